package cow

import (
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
)

// Check verifies the metadata on the device against itself and against
// memory: the volume table decodes, validates (ids, names, parents, delta
// capacities, extents inside the data area and not overlapping) and matches
// memory; Data + Metadata + Free == Capacity; every base's dependents are
// the volumes naming it as parent; every valid delta's exception table
// decodes (no chunk or slot twice, all in range), holds exactly the entries
// memory says were written, and memory's slot allocator accounts for every
// slot (used, free, never both). Device errors are returned as they are;
// every other problem wraps ErrCorrupt. Meant for a quiescent engine:
// O(volumes + exceptions) with one read per 32 table blocks.
func (e *Engine) Check() error {
	disk, err := e.loadVolTable()
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	mem := e.tableLocked()
	if err := e.geo.validate(mem); err != nil {
		errs = append(errs, fmt.Errorf("in memory: %w", err))
	}
	if disk.nonce != mem.nonce || disk.invalidated != mem.invalidated || disk.nextID > mem.nextID || !slices.Equal(disk.vols, mem.vols) ||
		disk.seq != mem.seq || disk.pagesUsed != mem.pagesUsed || !slices.Equal(disk.segs, mem.segs) {
		bad("volume table on the device differs from memory (commit %d: %d volumes, next id %d, %d invalidated, %d pages; memory %d: %d, %d, %d, %d)",
			disk.seq, len(disk.vols), disk.nextID, disk.invalidated, disk.pagesUsed, mem.seq, len(mem.vols), mem.nextID, mem.invalidated, mem.pagesUsed)
	}
	// Record slots, name and id indexes, free space: all derived from the
	// table, so they must be what a reopen would rebuild.
	for _, v := range e.vols {
		if v.slot < 0 || v.slot >= len(e.tab.slots) || e.tab.slots[v.slot] != v || e.byID[v.id] != v || e.byName[v.name] != v {
			bad("volume %d %q: slot %d or the id and name indexes disagree", v.id, v.name, v.slot)
		}
	}
	if n := len(e.tab.slots) - e.tab.free.Len(); n != len(e.vols) || len(e.byID) != len(e.vols) || len(e.byName) != len(e.vols) {
		bad("%d volumes, %d record slots used, %d ids and %d names indexed", len(e.vols), n, len(e.byID), len(e.byName))
	}
	all := mem
	all.vols = nil
	for _, v := range e.vols {
		all.vols = append(all.vols, v.volRec) // volumes being created hold their extents too
	}
	type ext struct{ off, end int64 }
	var want, got []ext
	freeFromTable(e.geo, all).Each(func(off, end int64) { want = append(want, ext{off, end}) })
	e.free.Each(func(off, end int64) { got = append(got, ext{off, end}) })
	if !slices.Equal(want, got) {
		bad("free space: %d extents in memory, the table leaves %d", len(got), len(want))
	}
	if s := e.spaceLocked(); s.Free < 0 || s.Data < 0 || s.Metadata < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		bad("space accounting %+v", s)
	}
	for _, v := range e.vols {
		if v.creating {
			continue
		}
		if v.b != nil {
			var want []*vol
			for _, w := range e.vols {
				if w.d != nil && !w.creating && w.parent == v.id {
					want = append(want, w)
				}
			}
			if !slices.Equal(v.b.deps, want) {
				bad("base %q: %d dependents in memory, %d volumes name it as parent", v.name, len(v.b.deps), len(want))
			}
			continue
		}
		if err := e.checkDelta(v, bad); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cow: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// checkDelta checks one delta's exception table. It returns only device
// errors; problems go to bad.
func (e *Engine) checkDelta(v *vol, bad func(string, ...any)) error {
	d := v.d
	if d.invalid.Load() != v.invalid {
		bad("%s %q: invalid flag %v in the table, %v for IO", v.kind, v.name, v.invalid, d.invalid.Load())
	}
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	l := newTableLoad(e.nonce, v.id, d.base.b.chunks, v.capChunks)
	if err := loadTable(e.dev, d.tableOff, l); err != nil {
		if errors.Is(err, strategies.ErrCorrupt) {
			bad("%s %q: %v", v.kind, v.name, err)
			return nil
		}
		return err
	}
	if v.invalid {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if l.count != d.written {
		bad("%s %q: %d exceptions on the device, %d written", v.kind, v.name, l.count, d.written)
	}
	if !(d.durable <= d.written && d.written <= d.eligible && d.eligible <= d.appended) ||
		uint64(len(d.pend)) != d.appended-d.durable {
		bad("%s %q: exception counters durable %d written %d eligible %d appended %d, %d pending",
			v.kind, v.name, d.durable, d.written, d.eligible, d.appended, len(d.pend))
	}
	l.table.each(func(c, s uint32) {
		if m, ok := d.table.get(c); !ok || m&^notDurable != s {
			bad("%s %q: exception %d -> %d on the device, memory has %d (present %v)", v.kind, v.name, c, s, m&^notDurable, ok)
		}
	})
	if uint64(d.table.len()) != d.appended {
		bad("%s %q: %d exceptions in memory, %d recorded", v.kind, v.name, d.table.len(), d.appended)
	}
	// Slots: every slot below next is used by exactly one exception or free.
	used := make([]uint64, (int64(d.capacity)+63)/64)
	d.table.each(func(c, val uint32) {
		s := val &^ notDurable
		if c >= d.base.b.chunks || s >= d.next || used[s/64]&(1<<(s%64)) != 0 {
			bad("%s %q: exception %d -> %d out of range or slot used twice (next %d)", v.kind, v.name, c, s, d.next)
			return
		}
		used[s/64] |= 1 << (s % 64)
	})
	for _, s := range d.holes {
		if s >= d.next || used[s/64]&(1<<(s%64)) != 0 {
			bad("%s %q: free slot %d is in use or beyond %d", v.kind, v.name, s, d.next)
			continue
		}
		used[s/64] |= 1 << (s % 64)
	}
	if uint64(d.table.len())+uint64(len(d.holes)) != uint64(d.next) {
		bad("%s %q: %d slots handed out, %d used and %d free", v.kind, v.name, d.next, d.table.len(), len(d.holes))
	}
	return nil
}
