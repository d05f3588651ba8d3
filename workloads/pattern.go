package workloads

import (
	"fmt"
	"strconv"
	"strings"
)

// Pattern is the shape of a stream of IOs: what fraction reads, which block
// sizes, where the ops land, and how fast. Where (which volume, which region)
// and how many ops are decided by the scenario.
type Pattern struct {
	ReadPct    float64      // percent of ops that are reads, 0 to 100
	BlockSizes []BlockSize  // one or more sizes with weights
	Access     Access       // random or sequential
	Dist       Distribution // where random ops land
	Rate       float64      // ops/s over all workers; 0: as fast as possible
}

// BlockSize is one block size of a split and its weight.
type BlockSize struct {
	Size   int64
	Weight int
}

// Access is random or sequential.
type Access uint8

const (
	Random Access = iota
	Sequential
)

func (a Access) String() string {
	if a == Sequential {
		return "seq"
	}
	return "random"
}

// ParseAccess reads "random" or "seq" ("sequential").
func ParseAccess(s string) (Access, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "random", "rand":
		return Random, nil
	case "seq", "sequential":
		return Sequential, nil
	}
	return 0, fmt.Errorf("want random or seq")
}

// ParseBlockSizes reads a block size or a split: "4k", "4k,64k" (equal
// weights) or "4k:80,64k:20" (weights in percent: given for every size or
// for none, and summing to 100). Each size must be a positive
// multiple of 512; the sizes must each be a multiple of the smallest and
// divide the largest, so that every op stays inside one slot of the largest
// size (see GenConfig).
func ParseBlockSizes(s string) ([]BlockSize, error) {
	var out []BlockSize
	weighted, sum := 0, 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sz, w, hasW := strings.Cut(part, ":")
		n, err := ParseSize(sz)
		if err != nil {
			return nil, fmt.Errorf("block size %q: %v", sz, err)
		}
		bs := BlockSize{Size: n, Weight: 1}
		if hasW {
			bs.Weight, err = strconv.Atoi(strings.TrimSpace(w))
			if err != nil || bs.Weight <= 0 {
				return nil, fmt.Errorf("weight %q of block size %s: want a positive integer", w, sz)
			}
			weighted, sum = weighted+1, sum+bs.Weight
		}
		out = append(out, bs)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no block size")
	}
	if weighted > 0 && weighted != len(out) {
		return nil, fmt.Errorf("split %q: give a percentage for every block size or for none", s)
	}
	if weighted > 0 && sum != 100 {
		return nil, fmt.Errorf("split %q: the percentages sum to %d%%, not 100%%", s, sum)
	}
	return out, validBlockSizes(out)
}

func validBlockSizes(bss []BlockSize) error {
	if len(bss) == 0 {
		return fmt.Errorf("no block size")
	}
	if len(bss) > maxSplit {
		return fmt.Errorf("at most %d block sizes in a split", maxSplit)
	}
	lo, hi := bss[0].Size, bss[0].Size
	for _, b := range bss {
		if b.Size <= 0 || b.Size%512 != 0 {
			return fmt.Errorf("block size %d is not a positive multiple of the 512-byte sector", b.Size)
		}
		if b.Size > 64<<20 {
			return fmt.Errorf("block size %s is larger than 64m", FormatSize(b.Size))
		}
		if b.Weight <= 0 {
			return fmt.Errorf("block size %s has weight %d: want a positive integer", FormatSize(b.Size), b.Weight)
		}
		lo, hi = min(lo, b.Size), max(hi, b.Size)
	}
	for _, b := range bss {
		if b.Size%lo != 0 || hi%b.Size != 0 {
			return fmt.Errorf("block size %s: every size of a split must be a multiple of the smallest (%s) and divide the largest (%s)",
				FormatSize(b.Size), FormatSize(lo), FormatSize(hi))
		}
	}
	return nil
}

// FormatBlockSizes is the inverse of ParseBlockSizes.
func FormatBlockSizes(bss []BlockSize) string {
	parts := make([]string, len(bss))
	same := true
	for _, b := range bss {
		same = same && b.Weight == bss[0].Weight
	}
	for i, b := range bss {
		parts[i] = FormatSize(b.Size)
		if !same {
			parts[i] += ":" + strconv.Itoa(b.Weight)
		}
	}
	return strings.Join(parts, ",")
}

// MinBlock and MaxBlock are the smallest and largest block sizes.
func (p Pattern) MinBlock() int64 {
	m := int64(0)
	for _, b := range p.BlockSizes {
		if m == 0 || b.Size < m {
			m = b.Size
		}
	}
	return m
}

func (p Pattern) MaxBlock() int64 {
	m := int64(0)
	for _, b := range p.BlockSizes {
		m = max(m, b.Size)
	}
	return m
}

// Validate checks the pattern on its own (not against a volume).
func (p Pattern) Validate() error {
	if p.ReadPct < 0 || p.ReadPct > 100 {
		return fmt.Errorf("read percentage %g outside [0, 100]", p.ReadPct)
	}
	if err := validBlockSizes(p.BlockSizes); err != nil {
		return err
	}
	if p.Rate < 0 {
		return fmt.Errorf("negative rate %g", p.Rate)
	}
	return p.Dist.Validate()
}

// DistKind names a distribution.
type DistKind uint8

const (
	Uniform DistKind = iota
	Zipf
	Hotspot
)

// Distribution says where random ops land in the working set.
//
//   - uniform: every slot equally likely.
//   - zipf:THETA: slot popularity follows Zipf's law with exponent THETA
//     (0 < THETA, THETA != 1; 0.99 is YCSB's default); the popular slots are
//     scattered over the working set, as fio does.
//   - hotspot:X:Y: X percent of the ops go to the first Y percent of the
//     working set, the rest uniformly to the remainder.
type Distribution struct {
	Kind        DistKind
	Theta       float64 // zipf
	HotOpsPct   float64 // hotspot: percent of ops ...
	HotSpacePct float64 // ... to this percent of the space
}

// ParseDistribution reads "uniform", "zipf:0.9" or "hotspot:90:10".
func ParseDistribution(s string) (Distribution, error) {
	f := strings.Split(strings.ToLower(strings.TrimSpace(s)), ":")
	num := func(i int) (float64, error) {
		v, err := strconv.ParseFloat(strings.TrimSpace(f[i]), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", f[i])
		}
		return v, nil
	}
	var d Distribution
	var err error
	switch {
	case f[0] == "uniform" && len(f) == 1:
		d.Kind = Uniform
	case f[0] == "zipf" && len(f) == 2:
		d.Kind = Zipf
		if d.Theta, err = num(1); err != nil {
			return d, err
		}
	case f[0] == "hotspot" && len(f) == 3:
		d.Kind = Hotspot
		if d.HotOpsPct, err = num(1); err != nil {
			return d, err
		}
		if d.HotSpacePct, err = num(2); err != nil {
			return d, err
		}
	default:
		return d, fmt.Errorf("want uniform, zipf:THETA or hotspot:OPS_PCT:SPACE_PCT")
	}
	return d, d.Validate()
}

// Validate checks the distribution's numbers.
func (d Distribution) Validate() error {
	switch d.Kind {
	case Uniform:
	case Zipf:
		if !(d.Theta > 0) || d.Theta == 1 || d.Theta > 100 {
			return fmt.Errorf("zipf theta %g: want 0 < theta <= 100 and theta != 1 (0.99 or 1.01 are close)", d.Theta)
		}
	case Hotspot:
		if !(d.HotOpsPct >= 0 && d.HotOpsPct <= 100) {
			return fmt.Errorf("hotspot ops percentage %g outside [0, 100]", d.HotOpsPct)
		}
		if !(d.HotSpacePct > 0 && d.HotSpacePct <= 100) {
			return fmt.Errorf("hotspot space percentage %g outside (0, 100]", d.HotSpacePct)
		}
	default:
		return fmt.Errorf("unknown distribution kind %d", d.Kind)
	}
	return nil
}

func (d Distribution) String() string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch d.Kind {
	case Zipf:
		return "zipf:" + g(d.Theta)
	case Hotspot:
		return "hotspot:" + g(d.HotOpsPct) + ":" + g(d.HotSpacePct)
	}
	return "uniform"
}
