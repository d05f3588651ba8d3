package results_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it; review the diff)\n--- got\n%s", name, got)
	}
}

func TestReportGolden(t *testing.T) {
	runs := resultstest.Runs(1, "", 1)
	tables := results.Report(runs)
	for _, tc := range []struct{ format, file string }{
		{results.FormatTable, "report.txt"},
		{results.FormatMarkdown, "report.md"},
		{results.FormatCSV, "report.csv"},
		{results.FormatJSON, "report.json"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := results.Render(&buf, tables, tc.format); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, buf.Bytes())
		})
	}
}
