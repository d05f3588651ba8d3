package linked

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
)

// Check re-reads the catalog and every grain table from the device (the
// same checks as Open: checksums, ids, names, one owner per delta, chains
// acyclic with frozen parents of the same size, replica and layer roles,
// every pool grain owned at most once) and compares them with memory: the
// catalog byte for byte, each committed mapping, each pending mapping
// (allocated, unmapped on the device, owned once), per-delta counts, the
// allocator bitmaps (no leaked and no lost grains) and the space identity.
// With a replica device it also re-reads its header (magic, checksum, the
// catalog's nonce) and checks its pool the same way: every replica-device
// grain owned once, by a replica, and allocated exactly when owned.
// Problems wrap ErrCorrupt; device errors are returned wrapped. The answer
// is exact when the engine is quiescent. Cost: O(metadata) reads.
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return fmt.Errorf("linked: %w", strategies.ErrClosed)
	}
	st, err := e.load()
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	memRoot := e.rootLocked()
	if memRoot.nextDelta > st.root.nextDelta {
		// A delta prepared for an operation that then failed (no space, a
		// device error) used an id that no commit recorded: harmless.
		memRoot.nextDelta = st.root.nextDelta
	}
	if !bytes.Equal(encodeRoot(memRoot), encodeRoot(st.root)) {
		bad("catalog root on the device (%d buckets, next ids %d %d) differs from memory (%d buckets, next ids %d %d)",
			len(st.root.buckets), st.root.nextVol, st.root.nextDelta, len(memRoot.buckets), memRoot.nextVol, memRoot.nextDelta)
	}
	if len(e.dirtyB) > 0 {
		bad("%d catalog buckets changed but not committed", len(e.dirtyB))
	}
	idxs := make(map[uint32]bool, len(e.buckets))
	for _, br := range e.buckets {
		idxs[br.idx] = true
	}
	for id := range e.vols {
		idxs[uint32(id>>bucketShift)] = true
	}
	for _, idx := range sortedKeys(idxs) {
		mem := e.bucketLocked(idx)
		disk := st.bucketRaw[idx]
		if len(mem) == 0 && disk == nil {
			continue
		}
		if rec := encodeBucket(mem); !bytes.Equal(rec, disk) {
			bad("catalog bucket %d on the device (%d bytes) differs from memory (%d bytes, %d volumes)", idx, len(disk), len(rec), len(mem))
		}
	}
	pending := e.geo.newGrainSet()
	kids := make(map[*delta]int, len(e.deltas))
	for _, c := range e.deltas {
		if c.parent != nil {
			kids[c.parent]++
		}
	}
	for _, id := range sortedKeys(e.deltas) {
		d := e.deltas[id]
		if d.owner == nil || e.vols[d.owner.id] != d.owner || d.owner.d != d {
			bad("delta %d: owner is not a live volume owning it", d.id)
		}
		dd := st.deltas[id]
		if dd == nil {
			bad("delta %d missing on the device", id)
			continue
		}
		d.gdMu.Lock()
		var tables int64
		for k, x := range d.gd {
			if x != 0 {
				tables++
			}
			if slices.Contains(d.gdNew, k) {
				if x == 0 || !pending.mark(x, true) || st.grains(e.geo).isUsed(x) {
					bad("delta %d: new grain table %d in grain %d owned twice", d.id, k, x)
				}
			} else if x != dd.gd[k] {
				bad("delta %d: grain table %d in grain %d, the device says %d", d.id, k, x, dd.gd[k])
			}
		}
		d.gdMu.Unlock()
		if tables != d.tables.Load() {
			bad("delta %d: %d grain tables, counter says %d", d.id, tables, d.tables.Load())
		}
		var used int64
		for pi := range d.pages {
			if d.pages[pi].Load() == nil && dd.pages[pi].Load() == nil {
				continue
			}
			for gi := uint32(pi << pageShift); gi < min(uint32(pi+1)<<pageShift, d.nGrains); gi++ {
				m, disk := d.get(gi), dd.get(gi)
				if m == 0 && disk == 0 {
					continue
				}
				if m != 0 {
					used++
				}
				if m&pendingBit == 0 {
					if m != disk {
						bad("delta %d grain %d: memory maps %d, device %d", d.id, gi, m, disk)
					}
					continue
				}
				g := m &^ pendingBit
				switch {
				case disk != 0:
					bad("delta %d grain %d: pending %d but the device maps %d", d.id, gi, g, disk)
				case !pending.mark(g, false) || st.grains(e.geo).isUsed(g):
					bad("delta %d grain %d: pending grain %d owned twice", d.id, gi, g)
				}
			}
		}
		if used != d.used.Load() {
			bad("delta %d: %d grains mapped, counter says %d", d.id, used, d.used.Load())
		}
		if kids[d] != d.children {
			bad("delta %d: %d children, counter says %d", d.id, kids[d], d.children)
		}
	}
	checkPool := func(what string, a, disk, pend *allocator, first uint32) {
		a.mu.Lock()
		defer a.mu.Unlock()
		leaked, lost := 0, 0
		for k := uint32(1); k <= a.n; k++ {
			owned := disk.isUsed(k) || pend.isUsed(k)
			switch inUse := a.isUsed(k); {
			case inUse && !owned:
				if leaked++; leaked <= 4 {
					bad("%sgrain %d allocated but owned by no table (leak)", what, first+k)
				}
			case !inUse && owned:
				if lost++; lost <= 4 {
					bad("%sgrain %d owned but free in the allocator (would be reused)", what, first+k)
				}
			}
		}
		if leaked+lost > 8 {
			bad("%s%d leaked and %d lost grains in all", what, leaked, lost)
		}
		if a.meta != disk.meta+pend.meta || a.used != disk.used+pend.used {
			bad("%sallocator counts used %d meta %d, tables say %d and %d", what, a.used, a.meta, disk.used+pend.used, disk.meta+pend.meta)
		}
	}
	checkPool("", e.alloc, st.alloc, pending.main, 0)
	if e.rdev != nil {
		checkPool("replica device: ", e.ralloc, st.ralloc, pending.rep, e.geo.nPool)
	}
	if s := e.Space(); s.Data < 0 || s.Metadata < poolOff || s.Free < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		bad("space accounting %+v", s)
	}
	if len(errs) > 0 {
		return fmt.Errorf("linked: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}
