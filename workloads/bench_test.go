package workloads

import (
	"context"
	"strconv"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// BenchmarkHarnessNull drives the whole harness path (generator, worker
// loop, clock reads, recorder, raw engine, counting wrapper) against a
// device.Null: the ceiling of what snapbench can drive, comparable with
// fio's null ioengine. ops/s is that of the io phase alone.
//
//	go test ./workloads -run '^$' -bench HarnessNull -benchtime 5000000x
func BenchmarkHarnessNull(b *testing.B) {
	for _, bc := range []struct {
		name string
		qd   int
		kv   []string
	}{
		{"qd1", 1, []string{"verify=off", "read_pct=50"}},
		{"qd1-no-intervals", 1, []string{"verify=off", "read_pct=50", "hlog_interval=0"}},
		{"qd4", 4, []string{"verify=off", "read_pct=50"}},
		{"qd16", 16, []string{"verify=off", "read_pct=50"}},
		{"qd32", 32, []string{"verify=off", "read_pct=50"}},
		{"qd1-stamped-writes", 1, []string{"verify=stamp", "read_pct=0"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			null, err := device.NewNull(1<<30, 512)
			if err != nil {
				b.Fatal(err)
			}
			cnt := device.NewCounting(null)
			eng, err := strategies.Format("raw", cnt, strategies.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			kv := append([]string{"volume_size=512m", "bs=4k", "qd=" + strconv.Itoa(bc.qd), "ops=" + strconv.Itoa(b.N)}, bc.kv...)
			sc := mustScenario(b, "io", kv...)
			b.ReportAllocs()
			b.ResetTimer()
			run, err := RunScenario(context.Background(), Env{Engine: eng, Counting: cnt}, sc)
			b.StopTimer()
			if err != nil || run.Status != results.StatusOK {
				b.Fatal(err, run.Status)
			}
			p := run.Phase("io")
			ops := float64(p.Logical.Reads + p.Logical.Writes)
			b.ReportMetric(ops/p.Seconds, "ops/s")
			// CPU time per op: what the harness costs, whatever else the
			// machine is doing.
			b.ReportMetric((p.CPU.UserSeconds+p.CPU.SysSeconds)*1e9/ops, "cpu-ns/op")
		})
	}
}
