package row

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
)

// commitLocked makes the open transaction durable; mu is held exclusively,
// so no IO is in flight and every acknowledged write has installed its
// mapping. With no metadata change it only flushes the device (in-place
// writes need nothing more). Any failure stops the engine (see fail).
//
// Order: (1) rewrite changed volume records in the volume table, (2) make
// this transaction's frees allocatable again (nothing allocates until the
// commit record is durable), (3) write dirty nodes to their new blocks and
// changed space-map pages and index pages to their non-current copies, (4)
// flush, which also makes every data write durable, (5) write the commit
// record to the older slot and flush. A crash before (5) completes leaves
// the previous record, whose trees, pages and chunks were not overwritten.
func (e *Engine) commitLocked() error {
	if err := e.usable(); err != nil {
		return err
	}
	if !e.dirty.Load() {
		if err := e.dev.Flush(); err != nil {
			return fmt.Errorf("row: flush: %w", err)
		}
		return nil
	}
	if err := e.commitTxn(); err != nil {
		return e.fail(err)
	}
	return nil
}

type blockWrite struct {
	off int64
	buf []byte
}

func (e *Engine) commitTxn() error {
	s := e.sm
	r := s.vtTake()
	o := treeOp{e: e, tree: treeVol, r: &r}
	var val [volRecSize]byte
	e.recMu.Lock()
	recs := e.recList
	e.recList = nil
	e.recMu.Unlock()
	slices.SortFunc(recs, func(a, b *volState) int { return cmp.Compare(a.id, b.id) })
	for _, v := range recs {
		if e.byID[v.id] != v || (!v.isNew && !v.recDirty) {
			continue // deleted since it was marked
		}
		v.record().encode(val[:])
		if err := o.set(&e.volRoot, uint64(v.id), val[:], v.isNew); err != nil {
			return fmt.Errorf("row: commit: volume table: %w", err)
		}
	}
	for _, id := range e.removed {
		if err := o.del(&e.volRoot, uint64(id)); err != nil {
			return fmt.Errorf("row: commit: volume table: %w", err)
		}
	}
	s.release(&r)
	s.releaseQuarantine()

	frames := e.cache.takeDirty()
	newState := func(p uint64) uint32 {
		st := s.state[p].Load()
		if s.touched[p] {
			return (st&stCur ^ stCur) | stMat
		}
		return st & (stCur | stMat)
	}
	writes := make([]blockWrite, 0, len(frames)+len(s.idxDirty))
	for _, f := range frames {
		if f.key&pageKeyBit != 0 {
			p := f.key &^ pageKeyBit
			sealSMPage(f.buf, p, e.txn)
			writes = append(writes, blockWrite{e.lay.pageOff(p, 1-int(s.state[p].Load()&stCur)), f.buf})
			e.st.pagesWritten.Add(1)
		} else {
			sealNode(f.buf)
			writes = append(writes, blockWrite{e.lay.nodeOff(f.key), f.buf})
			e.st.nodesWritten.Add(1)
		}
	}
	newIdx := slices.Clone(e.idxCur)
	var idxBufs [][]byte
	defer func() {
		for _, b := range idxBufs {
			device.PutBuffer(b)
		}
	}()
	for i, d := range s.idxDirty {
		if !d {
			continue
		}
		buf := device.GetBuffer(blockSize)
		idxBufs = append(idxBufs, buf)
		s.encodeIdxPage(buf, uint64(i), e.txn, newState)
		newIdx[i] ^= 1
		writes = append(writes, blockWrite{e.lay.idxOffOf(uint64(i), int(newIdx[i])), buf})
	}
	if err := e.writeBlocks(writes); err != nil {
		return fmt.Errorf("row: commit: %w", err)
	}
	if err := e.dev.Flush(); err != nil {
		return fmt.Errorf("row: commit: flush: %w", err)
	}
	saved := e.idxCur
	e.idxCur = newIdx
	if err := e.slots.Commit(e.record(e.idxBits()).encode()); err != nil {
		e.idxCur = saved
		return fmt.Errorf("row: commit: %w", err)
	}

	// Durable: the new state is current.
	for _, p := range s.touchedList {
		s.state[p].Store(newState(p))
		s.touched[p] = false
	}
	s.touchedList = s.touchedList[:0]
	clear(s.idxDirty)
	e.cache.markClean(frames)
	for _, v := range recs {
		v.recDirty, v.isNew = false, false
	}
	e.removed = e.removed[:0]
	e.txn++
	s.vt.nodes += r.allocated - r.freed
	s.vt.levels = 0
	if e.volRoot != 0 {
		f, err := e.node(e.volRoot, treeVol)
		if err != nil {
			return err
		}
		s.vt.levels = nLevel(f.buf) + 1
		e.cache.put(f, false)
	}
	e.dirty.Store(false)
	e.st.commits.Add(1)
	return nil
}

// writeBlocks writes 4 KiB blocks in offset order, coalescing contiguous
// runs into single IOs of up to 256 KiB.
func (e *Engine) writeBlocks(ws []blockWrite) error {
	const maxRun = 64
	slices.SortFunc(ws, func(a, b blockWrite) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	var stage []byte
	defer func() {
		if stage != nil {
			device.PutBuffer(stage)
		}
	}()
	for i := 0; i < len(ws); {
		j := i + 1
		for j < len(ws) && j-i < maxRun && ws[j].off == ws[j-1].off+blockSize {
			j++
		}
		buf := ws[i].buf
		if j-i > 1 {
			if stage == nil {
				stage = device.GetBuffer(maxRun * blockSize)
			}
			buf = stage[:(j-i)*blockSize]
			for k := i; k < j; k++ {
				copy(buf[(k-i)*blockSize:], ws[k].buf)
			}
		}
		if _, err := e.dev.WriteAt(buf, ws[i].off); err != nil {
			return fmt.Errorf("write metadata at %d: %w", ws[i].off, err)
		}
		i = j
	}
	return nil
}
