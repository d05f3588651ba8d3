package cow

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// baseStripes is the number of chunk locks per base; chunk c uses stripe
// c % baseStripes, so a write's stripes fit one uint64 mask.
const baseStripes = 64

// baseState is what a base volume needs beyond its record.
//
// gate: base writes hold it shared (across their device IO), snapshot and
// clone creation and the deletion of a dependent hold it exclusive. deps is
// written only with gate and Engine.mu both held, so either suffices to
// read it.
//
// stripes: chunk locks. A base write that must copy chunk c out holds
// stripe c exclusive from its decision to copy until the copies and their
// exceptions are durable; a dependent reading base chunk c, or a clone
// copying it into its own delta, holds it shared.
//
// copied: one bit per chunk, set once every valid dependent holds the chunk
// durably in its delta, so a rewrite of the chunk goes straight to the
// device. Creating a dependent clears it; a reopen starts it clear (the
// first write of each chunk then rechecks the dependents' tables).
type baseState struct {
	gate    sync.RWMutex
	deps    []*vol // ascending id
	stripes [baseStripes]sync.RWMutex
	copied  []atomic.Uint64
	chunks  uint32
}

func newBaseState(chunks uint32) *baseState {
	return &baseState{chunks: chunks, copied: make([]atomic.Uint64, (int64(chunks)+63)/64)}
}

// allCopied reports whether chunks [c0, c1] all have their copied bit.
func (b *baseState) allCopied(c0, c1 uint32) bool {
	for w := c0 / 64; w <= c1/64; w++ {
		lo, hi := max(c0, w*64)%64, min(c1, w*64+63)%64
		mask := (^uint64(0) >> (63 - hi)) &^ (1<<lo - 1)
		if b.copied[w].Load()&mask != mask {
			return false
		}
	}
	return true
}

func (b *baseState) isCopied(c uint32) bool { return b.copied[c/64].Load()&(1<<(c%64)) != 0 }

func (b *baseState) setCopied(c uint32) { b.copied[c/64].Or(1 << (c % 64)) }

// clearCopied clears every bit; the caller holds gate exclusive.
func (b *baseState) clearCopied() {
	for i := range b.copied {
		b.copied[i].Store(0)
	}
}

// lockStripes locks the stripes in mask exclusively, in ascending order.
func (b *baseState) lockStripes(mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		b.stripes[bits.TrailingZeros64(m)].Lock()
	}
}

func (b *baseState) unlockStripes(mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		b.stripes[bits.TrailingZeros64(m)].Unlock()
	}
}

// writeBase writes a base volume in place. When the chunks written all have
// their copied bit (or the base has no dependents), it is one device write
// under the shared gate. Otherwise copyOut first makes the old content of
// every chunk that some valid dependent still shares durable in that
// dependent's delta.
func (e *Engine) writeBase(v *vol, p []byte, off int64) (int, error) {
	b := v.b
	b.gate.RLock()
	defer b.gate.RUnlock()
	if len(p) == 0 {
		return 0, nil
	}
	c0, c1 := uint32(off>>e.geo.shift), uint32((off+int64(len(p))-1)>>e.geo.shift)
	if len(b.deps) > 0 && !b.allCopied(c0, c1) {
		if err := e.copyOutRange(v, c0, c1); err != nil {
			return 0, err
		}
	}
	if _, err := e.dev.WriteAt(p, v.off+off); err != nil {
		return 0, fmt.Errorf("cow: write %q at %d: %w", v.name, off, err)
	}
	return len(p), nil
}

// copyOutRange locks the stripes of the chunks in [c0, c1] not yet copied
// and copies them out.
func (e *Engine) copyOutRange(v *vol, c0, c1 uint32) error {
	b := v.b
	var mask uint64
	for c := c0; c <= c1; c++ {
		if !b.isCopied(c) {
			mask |= 1 << (c % baseStripes)
		}
		if c == c1 { // c1 may be the largest uint32
			break
		}
	}
	b.lockStripes(mask)
	defer b.unlockStripes(mask)
	sc := getScratch()
	defer putScratch(sc)
	for c := c0; ; c++ {
		if !b.isCopied(c) {
			sc.chunks = append(sc.chunks, c)
		}
		if c == c1 {
			break
		}
	}
	if len(sc.chunks) == 0 {
		return nil
	}
	if err := e.copyOut(v, sc); err != nil {
		return err
	}
	for _, c := range sc.chunks {
		b.setCopied(c)
	}
	return nil
}

// scratch holds one copy-out's working lists, pooled so that the copy-out
// path allocates nothing in the steady state.
type scratch struct {
	chunks  []uint32
	jobs    []copyJob
	commits []depCommit
}

type copyJob struct {
	d     *delta
	chunk uint32
	slot  uint32
}

type depCommit struct {
	d    *delta
	a, w uint64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	s.chunks = s.chunks[:0]
	clear(s.jobs)
	s.jobs = s.jobs[:0]
	clear(s.commits)
	s.commits = s.commits[:0]
	scratchPool.Put(s)
}
