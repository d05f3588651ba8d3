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
// it): one interval per phase and operation kind, tagged "<phase>/<op>"
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
