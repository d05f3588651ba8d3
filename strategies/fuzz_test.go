package strategies_test

import (
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// FuzzDecodeSuperblock: the superblock decoder must never panic.
func FuzzDecodeSuperblock(f *testing.F) {
	mem := device.MustMem(8 << 20)
	e, err := strategies.Format("raw", mem, strategies.Options{})
	if err != nil {
		f.Fatal(err)
	}
	e.Close()
	good := device.Alloc(4096)
	mem.ReadAt(good, 0)
	f.Add(good)
	f.Add(make([]byte, 4096))
	f.Add([]byte("SNAPBNCH"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4096 {
			b = append(b, make([]byte, 4096-len(b))...)
		}
		strategies.DecodeSuperblock(b)
	})
}
