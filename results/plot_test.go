package results_test

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

var plotDir = os.Getenv("SNAPBENCH_PLOT_DIR") // keep the charts to look at them

func TestPlot(t *testing.T) {
	all := resultstest.Runs(1, "", 1)
	dir := plotDir
	runs := all
	if dir == "" {
		// Keep the test quick (plotting under -race is slow): four engines.
		dir, runs = t.TempDir(), nil
		for _, r := range all {
			switch r.Engine {
			case "raw", "cow", "row", "linked":
				runs = append(runs, r)
			}
		}
	}
	// As SVG, and one phase as PNG (slow to rasterise).
	var steady []*results.Run
	for _, r := range runs {
		if p := r.Phase("steady"); r.Scenario == "snaptree" && p != nil {
			c := *r
			c.Phases = []results.Phase{*p}
			steady = append(steady, &c)
		}
	}
	if _, err := results.Plot(steady, dir, results.PlotOptions{Formats: []string{"png"}, All: true}); err != nil {
		t.Fatal(err)
	}
	files, err := results.Plot(runs, dir, results.PlotOptions{Formats: []string{"svg"}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	files = append(files, pngs...)
	want := []string{
		"snaptree-steady-write-cdf.svg",
		"snaptree-steady-write-cdf.png",
		"clonebush-boot-read-cdf.svg",
		"overwrite-fanout1000-overwrite-write-cdf.svg",
		"overwrite-sweep-fanout-overwrite-write-p50.svg",
		"overwrite-sweep-fanout-overwrite-write-amp.svg",
		"chainread-sweep-depth-read-read-p50.svg",
		"snaptree-steady-series-base_write_p99.svg",
	}
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no chart %s among %d files", w, len(files))
		}
	}
	for _, tc := range []struct {
		file     string
		contains []string
	}{
		// Axis labels with units, a legend entry per engine.
		{"snaptree-steady-write-cdf.svg", []string{"write latency (", "percentile (log scale of 1/(1−p))", "99.9%", "cow", "row", "linked"}},
		{"overwrite-sweep-fanout-overwrite-write-p50.svg", []string{"fan-out (log scale)", "write p50 latency (", "raw", "cow"}},
		{"snaptree-steady-series-base_write_p99.svg", []string{"live snapshots", "base write p99 latency (µs)"}},
	} {
		data, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.contains {
			if !bytes.Contains(data, []byte(s)) {
				t.Errorf("%s: no %q", tc.file, s)
			}
		}
	}
	// Unsupported engines draw nothing: raw has no snapshots.
	data, _ := os.ReadFile(filepath.Join(dir, "snaptree-steady-write-cdf.svg"))
	if bytes.Contains(data, []byte(">raw<")) {
		t.Error("snaptree steady CDF has a raw line, but raw is unsupported there")
	}
	f, err := os.Open(filepath.Join(dir, "snaptree-steady-write-cdf.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 900 || b.Dy() < 550 {
		t.Errorf("PNG is %dx%d, want at least 900x550 for legible text", b.Dx(), b.Dy())
	}
	for _, fl := range files {
		if strings.Contains(filepath.Base(fl), " ") {
			t.Errorf("file name with a space: %s", fl)
		}
	}
}

// TestPlotThesis checks the default figure set: about a dozen figures,
// each present when its data is, with human labels (no internal keys) and
// one legend entry per engine that has data.
func TestPlotThesis(t *testing.T) {
	dir := t.TempDir()
	if plotDir != "" {
		dir = filepath.Join(plotDir, "thesis")
	}
	var runs []*results.Run
	for _, r := range resultstest.Runs(1, "", 1) {
		switch r.Engine {
		case "raw", "cow", "row", "linked":
			runs = append(runs, r)
		}
	}
	files, err := results.Plot(runs, dir, results.PlotOptions{Formats: []string{"svg"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 || len(files) > 14 {
		t.Errorf("%d figures, want about a dozen: %v", len(files), files)
	}
	for _, tc := range []struct {
		file     string
		contains []string
	}{
		{"overwrite-base-write-latency-vs-fanout.svg", []string{"fan-out: live snapshots or clones of the base (log scale)",
			"median (p50)", "99th percentile", "base write latency (", ">cow<", ">row<", ">linked<"}},
		{"overwrite-device-bytes-per-base-write-vs-fanout.svg", []string{"device bytes written per base write (", "log scale"}},
		{"overwrite-base-write-latency-percentiles.svg", []string{"99%", "percentile (log scale of 1/(1−p))"}},
		{"clonebush-boot-storm-latency-percentiles.svg", []string{"reads", "writes", "99.9%"}},
		{"snaptree-base-write-latency-vs-live-snapshots.svg", []string{"live snapshots", "base write latency ("}},
		{"chainread-read-latency-vs-depth.svg", []string{"chain depth", "read latency ("}},
	} {
		data, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Errorf("no figure %s: %v", tc.file, err)
			continue
		}
		for _, s := range tc.contains {
			if !bytes.Contains(data, []byte(s)) {
				t.Errorf("%s: no %q", tc.file, s)
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, internal := range []string{"base_write", "_p99", "fanout=", "write_bytes"} {
			if bytes.Contains(data, []byte(internal)) {
				t.Errorf("%s: internal name %q in a label", filepath.Base(f), internal)
			}
		}
	}
}

func TestPlotRejectsUnknownFormat(t *testing.T) {
	if _, err := results.Plot(nil, t.TempDir(), results.PlotOptions{Formats: []string{"gif"}}); err == nil {
		t.Fatal("Plot accepted format gif")
	}
}

// TestPlotBurstSweep: a sweep of the burst size draws burst time against
// it by default, and --all draws no chart of a yes/no flag (batched).
func TestPlotBurstSweep(t *testing.T) {
	var runs []*results.Run
	for _, r := range resultstest.Runs(1, "", 1) {
		if r.Scenario != "clonebush" || (r.Engine != "cow" && r.Engine != "row") {
			continue
		}
		for _, n := range []int{1, 10, 100, 1000} {
			c := *r
			c.Params = map[string]string{results.SweepParamKey: "clones", "clones": fmt.Sprint(n)}
			c.Phases = append([]results.Phase(nil), r.Phases...)
			for i := range c.Phases {
				if c.Phases[i].Name != "burst" {
					continue
				}
				m := map[string]float64{}
				for k, v := range c.Phases[i].Metrics {
					m[k] = v
				}
				m["clones"], m["burst_s"], m["batched"] = float64(n), float64(n)*1e-4, 1
				c.Phases[i].Metrics = m
			}
			runs = append(runs, &c)
		}
	}
	dir := t.TempDir()
	files, err := results.Plot(runs, dir, results.PlotOptions{Formats: []string{"svg"}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "clonebush-clone-burst-time-vs-clones.svg"))
	if err != nil {
		t.Fatalf("no burst time figure among %v", files)
	}
	for _, want := range []string{"clones in the burst (log scale)", "burst time ("} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("burst time figure: no %q", want)
		}
	}
	all, err := results.Plot(runs, t.TempDir(), results.PlotOptions{Formats: []string{"svg"}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if strings.HasSuffix(f, "-batched.svg") {
			t.Errorf("a chart of a yes/no flag: %s", f)
		}
	}
}
