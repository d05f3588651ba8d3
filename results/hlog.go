package results

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteHlog writes r's histograms as an HDR interval log (format 1.3, as
// HdrHistogram's HistogramLogWriter writes it and its log processors read
// it). A phase with Intervals (latency over time) writes one line per
// interval and operation kind, in time order (ops in display order within
// one start), starting at the phase's start plus the interval's Start. A
// phase without writes one interval per operation kind, tagged "<phase>/<op>"
// with the phase's ID (PhaseRefs; characters a tag cannot hold, such as the
// space in "overwrite fanout=4", become '_'), starting at the phase's offset
// from the run's start and as long as the phase. Phases are in run order,
// operation kinds in display order. Values are nanoseconds; the interval
// max column is in milliseconds, as the format expects.
func WriteHlog(w io.Writer, r *Run) error {
	lw := hdr.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if err := lw.OutputComment(fmt.Sprintf("[snapbench %s %s, values in ns]", r.Name(), r.Label())); err != nil {
		return err
	}
	startMs := r.Started.UnixMilli()
	if !r.Started.IsZero() {
		if err := lw.OutputStartTime(startMs); err != nil {
			return err
		}
		if err := lw.OutputBaseTime(startMs); err != nil {
			return err
		}
		lw.SetBaseTime(startMs)
	}
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	var offsetMs int64 // phases without a start time follow each other
	for _, ref := range r.PhaseRefs() {
		p := ref.Phase
		begin := startMs + offsetMs
		if !p.Started.IsZero() && !r.Started.IsZero() {
			begin = p.Started.UnixMilli()
		}
		end := begin + int64(math.Round(p.Seconds*1000))
		offsetMs = end - startMs
		if len(p.Intervals) > 0 {
			if err := writeIntervals(lw, ref.ID, begin, p.Intervals); err != nil {
				return fmt.Errorf("phase %s: %w", p.Name, err)
			}
			continue
		}
		ops := make([]Op, 0, len(p.Ops))
		for op := range p.Ops {
			ops = append(ops, op)
		}
		sortOps(ops)
		for _, op := range ops {
			h, err := p.Ops[op].Histogram()
			if err != nil {
				return fmt.Errorf("phase %s op %s: %w", p.Name, op, err)
			}
			if h == nil {
				continue
			}
			h.SetTag(HlogTag(ref.ID, op))
			h.SetStartTimeMs(begin)
			h.SetEndTimeMs(end)
			if err := lw.OutputIntervalHistogram(h); err != nil {
				return fmt.Errorf("phase %s op %s: %w", p.Name, op, err)
			}
		}
	}
	return nil
}

// HlogTag is the interval tag of a phase's operation kind.
func HlogTag(phase string, op Op) string {
	return strings.Map(func(c rune) rune {
		if c <= ' ' || c == ',' || c > '~' {
			return '_'
		}
		return c
	}, phase+"/"+string(op))
}

// HlogInterval is one interval read back from an .hlog file.
type HlogInterval struct {
	Tag       string
	Histogram *hdr.Histogram
}

// ReadHlog reads every interval of an HDR interval log, in file order.
func ReadHlog(rd io.Reader) ([]HlogInterval, error) {
	lr := hdr.NewHistogramLogReader(rd)
	var out []HlogInterval
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return out, fmt.Errorf("results: hlog: %w", err)
		}
		if h == nil {
			break
		}
		out = append(out, HlogInterval{Tag: h.Tag(), Histogram: h})
	}
	return out, nil
}

// HlogTags lists the tags of intervals, sorted (for tests and tools).
func HlogTags(iv []HlogInterval) []string {
	tags := make([]string, len(iv))
	for i, x := range iv {
		tags[i] = x.Tag
	}
	sort.Strings(tags)
	return tags
}

// writeIntervals writes a phase's intervals in time order; begin is the
// phase's start (ms since the epoch).
func writeIntervals(lw *hdr.HistogramLogWriter, phase string, begin int64, ivs []Interval) error {
	order := make([]Op, 0, 4)
	seen := make(map[Op]bool)
	for _, iv := range ivs {
		if !seen[iv.Op] {
			seen[iv.Op] = true
			order = append(order, iv.Op)
		}
	}
	sortOps(order)
	rank := make(map[Op]int, len(order))
	for i, op := range order {
		rank[op] = i
	}
	sorted := append([]Interval(nil), ivs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Start != sorted[j].Start {
			return sorted[i].Start < sorted[j].Start
		}
		return rank[sorted[i].Op] < rank[sorted[j].Op]
	})
	for _, iv := range sorted {
		h, err := iv.Histogram()
		if err != nil {
			return fmt.Errorf("interval %s at %d ms: %w", iv.Op, iv.Start, err)
		}
		if h == nil {
			continue
		}
		h.SetTag(HlogTag(phase, iv.Op))
		h.SetStartTimeMs(begin + iv.Start)
		h.SetEndTimeMs(begin + iv.Start + iv.Length)
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("interval %s at %d ms: %w", iv.Op, iv.Start, err)
		}
	}
	return nil
}
