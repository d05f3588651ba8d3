package device

import (
	"bytes"
	"testing"
)

// TestWrappersPassZeroing: Counting and Sub pass fast zeroing through to the
// device beneath; Counting counts it as zeroing, not as writes, and a device
// without zeroing still gets zeros written (and counted as writes).
func TestWrappersPassZeroing(t *testing.T) {
	cases := []struct {
		name       string
		inner      func() Device
		wantZeroes int64
		wantWrites int64
	}{
		{"fast zeroing", func() Device { return MustMem(4 << 20) }, 1, 0},
		{"no zeroing", func() Device { return plain{MustMem(4 << 20)} }, 0, 2}, // 2 MiB in 1 MiB writes
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inner := c.inner()
			mustWrite(t, inner, stamp(4<<20, 512, 5), 0)
			cnt := NewCounting(inner)
			outer, err := NewSub(cnt, 1<<20, 3<<20)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := NewSub(outer, 0, 2<<20) // a window of a window
			if err != nil {
				t.Fatal(err)
			}
			if sub.Unwrap() != cnt || sub.Offset() != 1<<20 {
				t.Errorf("nested window: inner %T offset %d, want the counting device at 1 MiB", sub.Unwrap(), sub.Offset())
			}
			if err := Zero(sub, 0, 2<<20); err != nil {
				t.Fatal(err)
			}
			got := cnt.Counters()
			if got.Zeroes != c.wantZeroes || got.Writes != c.wantWrites {
				t.Errorf("counters %v: want %d zeroes, %d writes", got, c.wantZeroes, c.wantWrites)
			}
			if c.wantZeroes > 0 && got.ZeroBytes != 2<<20 {
				t.Errorf("zero bytes %d, want %d", got.ZeroBytes, 2<<20)
			}
			all := mustRead(t, inner, 0, 4<<20)
			if !allZero(all[1<<20 : 3<<20]) {
				t.Errorf("the window does not read as zeros")
			}
			if !bytes.Equal(all[:1<<20], stamp(4<<20, 512, 5)[:1<<20]) || !bytes.Equal(all[3<<20:], stamp(4<<20, 512, 5)[3<<20:]) {
				t.Errorf("data outside the window changed")
			}
		})
	}
}

// TestCountingShardsSum: operations on many buffers (shards) sum exactly.
func TestCountingShardsSum(t *testing.T) {
	cnt := NewCounting(MustMem(1 << 20))
	bufs := make([][]byte, 3*countShards)
	for i := range bufs {
		bufs[i] = Alloc(4096)
		mustWrite(t, cnt, bufs[i], int64(i%200)*4096)
		mustRead(t, cnt, int64(i%200)*4096, 512)
	}
	got := cnt.Counters()
	n := int64(len(bufs))
	if got.Writes != n || got.WriteBytes != n*4096 || got.Reads != n || got.ReadBytes != n*512 {
		t.Errorf("counters %v, want %d writes of 4096 and %d reads of 512", got, n, n)
	}
}
