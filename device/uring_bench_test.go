package device

import (
	"testing"
)

// BenchmarkFileEngineQD1 compares the IO paths at queue depth 1 (4 KiB
// random reads of a filled file): psync, the ring with completions through
// the eventfd and the netpoller, and the ring with submit-and-wait in one
// io_uring_enter (waitInline). Run them interleaved and compare ratios:
//
//	go test ./device -run '^$' -bench FileEngineQD1 -benchtime 20000x -count 3
func BenchmarkFileEngineQD1(b *testing.B) {
	for _, bc := range []struct {
		name   string
		engine IOEngine
		inline bool
	}{{"psync", IOEnginePsync, false}, {"uring-eventfd", IOEngineURing, false}, {"uring-inline", IOEngineURing, true}} {
		b.Run(bc.name, func(b *testing.B) {
			d := benchFile(b, true).(*File)
			if _, err := d.SetIOEngine(bc.engine); err != nil {
				b.Skipf("%v", err)
			}
			if d.ring != nil {
				d.ring.waitInline = bc.inline
			}
			benchRandIO(b, d, false)
		})
	}
}
