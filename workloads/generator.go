package workloads

import (
	"fmt"
)

// Op is one IO: Len bytes at Off, a write or a read.
type Op struct {
	Off   int64
	Len   int
	Write bool
}

// maxSplit is the most block sizes a split may have.
const maxSplit = 8

// GenConfig configures one worker's Generator.
type GenConfig struct {
	Pattern Pattern
	// Start and Len delimit the region the ops fall in. Len must be a
	// multiple of Granule.
	Start, Len int64
	// Granule is the unit of ownership between workers (default: the largest
	// block size). It must be a multiple of every block size. Worker owns the
	// granules g with g % Workers == Worker and only ever touches those, so
	// that concurrent workers never write, or read while another writes, the
	// same bytes: verification stays exact at any queue depth.
	Granule         int64
	Worker, Workers int // Workers 0 or 1: one worker owns everything
	Seed            uint64
}

// Generator produces one worker's stream of ops. Its sequence is fully
// determined by its GenConfig (Seed included). Not safe for concurrent use:
// every worker has its own. Next does not allocate and takes no lock.
type Generator struct {
	r       rng
	readThr uint64 // a draw below readThr is a read; 0: never draw
	allRead bool
	nSizes  int
	sizes   [maxSplit]int64
	cum     [maxSplit]uint64
	totalW  uint64
	minBS   int64
	start   int64
	length  int64
	gran    int64
	worker  int64
	workers int64
	seq     bool
	cur     int64 // sequential: offset in the region
	dist    sampler
}

// NewGenerator validates c and returns a generator.
func NewGenerator(c GenConfig) (*Generator, error) {
	if err := c.Pattern.Validate(); err != nil {
		return nil, err
	}
	p := c.Pattern
	if c.Workers <= 1 {
		c.Worker, c.Workers = 0, 1
	}
	if c.Granule == 0 {
		c.Granule = p.MaxBlock()
	}
	for _, b := range p.BlockSizes {
		if c.Granule%b.Size != 0 {
			return nil, fmt.Errorf("granule %d is not a multiple of block size %d", c.Granule, b.Size)
		}
	}
	if c.Worker < 0 || c.Worker >= c.Workers {
		return nil, fmt.Errorf("worker %d of %d", c.Worker, c.Workers)
	}
	if c.Start < 0 || c.Len <= 0 || c.Len%c.Granule != 0 {
		return nil, fmt.Errorf("region %d+%d is not a positive multiple of the granule %d", c.Start, c.Len, c.Granule)
	}
	if c.Len/c.Granule < int64(c.Workers) {
		return nil, fmt.Errorf("region of %d bytes holds %d granules of %d bytes: fewer than %d workers",
			c.Len, c.Len/c.Granule, c.Granule, c.Workers)
	}
	g := &Generator{
		r: newRNG(c.Seed), nSizes: len(p.BlockSizes), minBS: p.MinBlock(),
		start: c.Start, length: c.Len, gran: c.Granule,
		worker: int64(c.Worker), workers: int64(c.Workers), seq: p.Access == Sequential,
	}
	switch {
	case p.ReadPct >= 100:
		g.allRead = true
	case p.ReadPct > 0:
		g.readThr = probThreshold(p.ReadPct / 100)
	}
	for i, b := range p.BlockSizes {
		g.sizes[i] = b.Size
		g.totalW += uint64(b.Weight)
		g.cum[i] = g.totalW
	}
	if g.workers == 1 {
		g.gran = g.length // one owner: sequential streams wrap at the end only
	}
	g.cur = g.worker * g.gran
	g.dist = newSampler(p.Dist, uint64(c.Len/g.minBS), &g.r)
	return g, nil
}

// Next returns the next op.
func (g *Generator) Next() Op {
	var op Op
	switch {
	case g.allRead:
	case g.readThr == 0:
		op.Write = true
	default:
		op.Write = g.r.Uint64() >= g.readThr
	}
	bs := g.sizes[0]
	if g.nSizes > 1 {
		w := g.r.Uint64n(g.totalW)
		i := 0
		for w >= g.cum[i] {
			i++
		}
		bs = g.sizes[i]
	}
	op.Len = int(bs)
	if g.seq {
		for {
			if g.cur >= g.length {
				g.cur = g.worker * g.gran
			}
			gi := g.cur / g.gran
			if m := gi % g.workers; m != g.worker { // into the next granule we own
				g.cur = (gi + (g.worker-m+g.workers)%g.workers) * g.gran
				continue
			}
			if g.cur+bs <= (gi+1)*g.gran {
				break
			}
			g.cur = (gi + 1) * g.gran
		}
		op.Off = g.start + g.cur
		g.cur += bs
		return op
	}
	off := int64(g.dist.next(&g.r)) * g.minBS
	if bs != g.minBS {
		off -= off % bs
	}
	if g.workers > 1 {
		gr := off / g.gran
		if m := gr % g.workers; m != g.worker {
			off += (g.worker - m) * g.gran
			if off >= g.length {
				off -= g.workers * g.gran
			}
		}
	}
	op.Off = g.start + off
	return op
}
