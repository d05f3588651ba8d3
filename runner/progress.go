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
	line := fmt.Sprintf("%-7s %s/%s", p.engine, u.Scenario, u.Phase)
	if u.Total > 0 {
		pct := min(100, 100*float64(u.Done)/float64(u.Total)) // side IO (branch writes) may pass the main budget
		line += fmt.Sprintf("  %5.1f%%", pct)
		if u.Done > 0 && u.Done < u.Total {
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
