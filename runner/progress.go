package runner

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/snapbench/snapbench/workloads"
)

// progress renders workloads.ProgressUpdate as a live line on a terminal,
// or as a plain line every plainEvery otherwise (CI logs stay readable).
type progress struct {
	c       *Config
	engine  string
	mu      sync.Mutex
	last    time.Time
	lastLen int
}

const plainEvery = 5 * time.Second

// suiteProgress counts the runs of a suite (every engine, point and trial)
// for the "run k of N" prefix and the suite's ETA: the mean time of the
// runs done times the runs left, less the current run's time so far.
// Not safe for concurrent use (runs are sequential).
type suiteProgress struct {
	total, done int
	start       time.Time // of the suite
	runStart    time.Time // of the current run
}

// begin starts the next run.
func (s *suiteProgress) begin(now time.Time) {
	if s.start.IsZero() {
		s.start = now
	}
	s.runStart = now
}

// end marks the current run done.
func (s *suiteProgress) end() { s.done++ }

// prefix is "run k/N" and, once a run has ended, the suite's ETA.
func (s *suiteProgress) prefix(now time.Time) string {
	if s == nil || s.total == 0 {
		return ""
	}
	out := fmt.Sprintf("run %d/%d", min(s.done+1, s.total), s.total)
	if s.done > 0 && s.done < s.total {
		per := s.runStart.Sub(s.start) / time.Duration(s.done)
		left := per*time.Duration(s.total-s.done) - now.Sub(s.runStart)
		out += ", suite ETA " + since(max(left, 0))
	}
	return out + "  "
}

// minETAFraction is how much of a phase must be done before its ETA is
// shown: early rates (a cold cache, the first snapshots) mislead.
const minETAFraction = 0.05

func newProgress(c *Config, engine string) *progress { return &progress{c: c, engine: engine} }

func (p *progress) update(u workloads.ProgressUpdate) {
	if p.c.Log == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.c.Live && !u.PhaseEnd && now.Sub(p.last) < plainEvery {
		return
	}
	p.last = now
	line := p.c.suite.prefix(now) + fmt.Sprintf("%-7s %s/%s", p.engine, u.Scenario, u.Phase)
	if u.Total > 0 {
		pct := min(100, 100*float64(u.Done)/float64(u.Total)) // side IO (branch writes) may pass the main budget
		line += fmt.Sprintf("  %5.1f%%", pct)
		if u.Done < u.Total && float64(u.Done) >= minETAFraction*float64(u.Total) && u.Elapsed >= time.Second {
			eta := time.Duration(float64(u.Elapsed) * float64(u.Total-u.Done) / float64(u.Done))
			line += "  ETA " + since(eta)
		}
	} else {
		line += fmt.Sprintf("  %d ops", u.Done)
	}
	if s := u.Elapsed.Seconds(); s > 0 && u.Done > 0 {
		line += fmt.Sprintf("  %.0f ops/s", float64(u.Done)/s)
	}
	if u.PhaseEnd {
		line += "  done in " + since(u.Elapsed)
	}
	if p.c.Live {
		pad := ""
		if n := p.lastLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.c.Log, "\r%s%s", line, pad)
		p.lastLen = len(line)
		return
	}
	if u.PhaseEnd {
		return // plain mode: phase ends are summarised by the run line
	}
	fmt.Fprintln(p.c.Log, line)
}

// done ends a live line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c.Live && p.lastLen > 0 {
		fmt.Fprintf(p.c.Log, "\r%s\r", strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
}
