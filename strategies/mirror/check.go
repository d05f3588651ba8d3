package mirror

import (
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// Check verifies the engine against the device. It holds every volume's IO
// lock, so it sees no write half done. It checks:
//
//   - the committed volume table decodes, validates (ids, names, kinds,
//     sizes, parents, extents inside the area, no overlap) and is exactly
//     the in-memory table;
//   - the allocator holds exactly the table's extents (no leak, no overlap);
//   - pairing: each mirror is attached to its source once, each split with a
//     parent tracks it and is listed by it, bitmaps exist where needed;
//   - every bitmap block on the device decodes and, unless it is waiting to
//     be written (dirty), equals memory; no bit past the last chunk;
//   - the write-intent block equals the in-memory intent bits;
//   - Data + Metadata + Free == Capacity.
//
// Damage is reported as an error wrapping ErrCorrupt; device errors are
// returned wrapped as they are.
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("mirror: %w", strategies.ErrClosed)
	}
	if e.failed != nil {
		return fmt.Errorf("mirror: %w: a table commit failed, memory and device may disagree: %w", strategies.ErrCorrupt, e.failed)
	}
	for _, v := range e.vols {
		v.rw.Lock()
	}
	defer func() {
		for _, v := range e.vols {
			v.rw.Unlock()
		}
	}()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	disk, _, err := loadTable(newStore(e.dev, e.chunk), e.geo)
	switch {
	case errors.Is(err, strategies.ErrCorrupt):
		errs = append(errs, err)
	case err != nil:
		return err
	default:
		if mem := e.tableState(); disk.nextVol != mem.nextVol || disk.nextMir != mem.nextMir ||
			!slices.Equal(disk.vols, mem.vols) || !slices.Equal(disk.mirs, mem.mirs) {
			bad("the committed volume table differs from memory")
		}
	}
	e.checkPairing(bad)
	e.checkExtents(bad)

	for _, v := range e.vols {
		if v.changed != nil {
			if err := e.checkBitmap(v.changed, v.ext, fmt.Sprintf("change bitmap of %q", v.name), bad); err != nil {
				return err
			}
		}
	}
	for _, m := range e.mirs {
		if err := e.checkBitmap(m.oos, m.ext, fmt.Sprintf("out-of-sync bitmap of mirror %d", m.id), bad); err != nil {
			return err
		}
	}
	ierrs, err := e.intent.check()
	if err != nil {
		return err
	}
	errs = append(errs, ierrs...)

	if s := e.spaceLocked(); s.Free < 0 || s.Data < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		bad("space accounting %+v", s)
	}
	if len(errs) > 0 {
		return fmt.Errorf("mirror: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// checkPairing verifies the in-memory links between volumes and mirrors.
func (e *Engine) checkPairing(bad func(string, ...any)) {
	names := make(map[string]bool, len(e.vols))
	for i, v := range e.vols {
		if i > 0 && e.vols[i-1].id >= v.id || v.id == 0 || v.id >= e.nextVol {
			bad("volume id %d out of order or outside [1,%d)", v.id, e.nextVol)
		}
		if names[v.name] {
			bad("duplicate volume name %q", v.name)
		}
		names[v.name] = true
		p := e.find(v.parent)
		switch {
		case v.parent != 0 && p == nil:
			bad("volume %q: parent %d does not exist", v.name, v.parent)
		case p != nil && (v.changed == nil || slices.Index(p.trackers, v) < 0):
			bad("volume %q: split of %q but not tracking it", v.name, p.name)
		case p == nil && v.changed != nil:
			bad("volume %q: change bitmap without a parent", v.name)
		}
		for j, t := range v.trackers {
			if t.parent != v.id || e.find(t.id) != t || j > 0 && v.trackers[j-1].id >= t.id {
				bad("volume %q: tracker %q is not its split, not live, or out of order", v.name, t.name)
			}
		}
		for j, m := range v.mirrors {
			if m.src != v || e.findMirror(m.id) != m || j > 0 && v.mirrors[j-1].id >= m.id {
				bad("volume %q: mirror %d attached elsewhere, not live, or out of order", v.name, m.id)
			}
		}
	}
	for i, m := range e.mirs {
		if i > 0 && e.mirs[i-1].id >= m.id || m.id == 0 || m.id >= e.nextMir {
			bad("mirror id %d out of order or outside [1,%d)", m.id, e.nextMir)
		}
		if e.find(m.src.id) != m.src || slices.Index(m.src.mirrors, m) < 0 {
			bad("mirror %d: source %d not live or does not list it", m.id, m.src.id)
		}
		if m.size != m.src.size || m.oos.chunks != m.size/e.chunk {
			bad("mirror %d: size %d, source %d, bitmap of %d chunks", m.id, m.size, m.src.size, m.oos.chunks)
		}
	}
}

// checkExtents verifies that the allocator holds exactly the extents of the
// table (and the table's own segments), disjoint and inside the data area.
func (e *Engine) checkExtents(bad func(string, ...any)) {
	var want []span
	for _, x := range e.store.Extents() {
		want = append(want, span{x.Off, x.Len})
	}
	for _, v := range e.vols {
		want = append(want, span{v.ext, v.bmLen + v.size})
	}
	for _, m := range e.mirs {
		want = append(want, span{m.ext, m.bmLen + m.size})
	}
	slices.SortFunc(want, func(a, b span) int { return cmp64(a.off, b.off) })
	for i, s := range want {
		if s.off < e.geo.dataStart || s.off+s.len > e.geo.capacity {
			bad("extent %d+%d outside the data area [%d,%d)", s.off, s.len, e.geo.dataStart, e.geo.capacity)
		}
		if i > 0 && want[i-1].off+want[i-1].len > s.off {
			bad("extents %d+%d and %d+%d overlap", want[i-1].off, want[i-1].len, s.off, s.len)
		}
	}
	if got := e.alloc.sorted(); !slices.Equal(want, got) {
		bad("allocator holds %d extents (%d bytes), the table %d: leaked or lost space", len(got), e.alloc.used(), len(want))
	}
	var free int64
	e.alloc.fs.Each(func(off, end int64) { free += end - off })
	if free != e.alloc.end-e.alloc.start-e.alloc.used() {
		bad("allocator: %d bytes free, %d used, in an area of %d", free, e.alloc.used(), e.alloc.end-e.alloc.start)
	}
}

// checkBitmap compares a bitmap with its blocks on the device.
func (e *Engine) checkBitmap(b *chunkBitmap, ext int64, what string, bad func(string, ...any)) error {
	buf := device.GetBuffer(blockSize)
	defer device.PutBuffer(buf)
	var words [wordsPerBlock]uint64
	for blk := int64(0); blk < b.blocks(); blk++ {
		if _, err := e.dev.ReadAt(buf, ext+blk*blockSize); err != nil {
			return fmt.Errorf("mirror: check: read bitmap: %w", err)
		}
		if err := decodeBlock(buf, uint32(blk), words[:]); err != nil {
			bad("%s block %d: %v", what, blk, err)
			continue
		}
		for i := int64(0); i < wordsPerBlock; i++ {
			w := blk*wordsPerBlock + i
			if words[i]&^b.validMask(w) != 0 || b.words[w]&^b.validMask(w) != 0 {
				bad("%s: bits set past chunk %d", what, b.chunks)
				break
			}
		}
		if !b.isDirty(blk) && !b.equalBlock(blk, words[:]) {
			bad("%s block %d differs from memory", what, blk)
		}
	}
	return nil
}
