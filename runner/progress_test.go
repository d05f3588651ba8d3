package runner

import (
	"strings"
	"testing"
	"time"
)

func TestSuiteProgressPrefix(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &suiteProgress{total: 4}
	s.begin(t0)
	if got := s.prefix(t0.Add(time.Second)); got != "run 1/4  " {
		t.Errorf("first run: %q (no ETA before a run has ended)", got)
	}
	s.end()
	s.begin(t0.Add(10 * time.Second)) // the first run took 10 s
	got := s.prefix(t0.Add(12 * time.Second))
	// 3 runs left at 10 s each, 2 s of the current one gone: 28 s.
	if !strings.HasPrefix(got, "run 2/4, suite ETA ") || !strings.Contains(got, since(28*time.Second)) {
		t.Errorf("second run: %q, want run 2/4 and an ETA of %s", got, since(28*time.Second))
	}
	s.end()
	s.begin(t0.Add(20 * time.Second))
	s.end()
	s.begin(t0.Add(30 * time.Second))
	s.end()
	if got := s.prefix(t0.Add(40 * time.Second)); got != "run 4/4  " {
		t.Errorf("after the last run: %q", got)
	}
	var none *suiteProgress
	if none.prefix(t0) != "" {
		t.Error("a nil suite has a prefix")
	}
}
