package device

import (
	"testing"
)

// BenchmarkFileEngineQD1 compares the IO paths at queue depth 1 (4 KiB
// random reads and writes of a filled file): psync, every request
// through the ring (the hand-off to the ring thread and back), and the
// uring engine as File uses it (a lone request is a plain pread/pwrite: a raw system
// call, or through the runtime's syscall path with -syscall). Run them
// interleaved and compare ratios:
//
//	go test ./device -run '^$' -bench FileEngineQD1 -benchtime 20000x -count 3
func BenchmarkFileEngineQD1(b *testing.B) {
	for _, bc := range []struct {
		name    string
		engine  IOEngine
		always  bool // every request through the ring
		syscall bool // a lone request through os.File, not a raw system call
	}{{"psync", IOEnginePsync, false, false}, {"uring-ring", IOEngineURing, true, false},
		{"uring-file", IOEngineURing, false, false}, {"uring-file-syscall", IOEngineURing, false, true}} {
		for _, write := range []bool{false, true} {
			name := bc.name + "/read"
			if write {
				name = bc.name + "/write"
			}
			b.Run(name, func(b *testing.B) {
				d := benchFile(b, true).(*File)
				if _, err := d.SetIOEngine(bc.engine); err != nil {
					b.Skipf("%v", err)
				}
				d.ringAlways = bc.always
				if bc.syscall {
					d.directRaw = false
				}
				benchRandIO(b, d, write)
			})
		}
	}
}
