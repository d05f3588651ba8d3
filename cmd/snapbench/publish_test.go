package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportHTML: report --format html writes one page to stdout with the
// headline, the figures and the tables; its flags exclude what does not
// apply.
func TestReportHTML(t *testing.T) {
	dir := writeRuns(t, "", 1)
	code, out, errOut := capture(t, "report", "--format", "html", "--title", "lab run", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<title>lab run</title>", `id="headline"`, "<svg", "snaptree / steady", "snapbench " + version, "</html>"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"report", "--format", "html", "--headline", dir}, "whole report"},
		{[]string{"report", "--title", "x", dir}, "--title applies to --format html only"},
		{[]string{"compare", "--format", "html", dir, dir}, "unknown format"},
	} {
		code, _, errOut := capture(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit %d stderr %q, want exit 2 and %q", tc.args, code, errOut, tc.says)
		}
	}
}

// TestPlotDefaultSet: plot draws the thesis figures by default, about a
// dozen, and --all every chart.
func TestPlotDefaultSet(t *testing.T) {
	dir := writeRuns(t, "", 1)
	count := func(args ...string) []string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "charts")
		code, _, errOut := capture(t, append([]string{"plot", "-q", "--format", "svg", "--out", out}, append(args, dir)...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("plot %v: exit %d, stderr %q", args, code, errOut)
		}
		files, _ := os.ReadDir(out)
		var names []string
		for _, f := range files {
			names = append(names, f.Name())
		}
		return names
	}
	def, all := count(), count("--all")
	if len(def) < 6 || len(def) > 14 {
		t.Errorf("default set: %d figures, want about a dozen: %v", len(def), def)
	}
	if len(all) <= len(def) {
		t.Errorf("--all drew %d charts, the default %d", len(all), len(def))
	}
	if !strings.Contains(strings.Join(def, " "), "overwrite-base-write-latency-vs-fanout.svg") {
		t.Errorf("no base write latency against fan-out among %v", def)
	}
}
