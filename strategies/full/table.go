package full

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

// record is one volume-table entry as stored on the device; slot is its
// position in the paged table.
type record struct {
	id, parent strategies.VolumeID
	kind       strategies.Kind
	size, ext  int64
	name       string
	slot       int
}

// Volume-table record (fixed, 100 bytes, little endian): id u64 (0: free),
// parent u64, kind u8, size i64, extent offset i64, name length u16, name
// padded with zeros to 64 bytes, a zero byte. The table is a paged.Store:
// header blocks at 0 and 4 KiB, 16 records inline, 40 per page.
const (
	recSize     = 8 + 8 + 1 + 8 + 8 + 2 + strategies.MaxNameLen + 1
	inlineRecs  = 16
	headerBytes = 2 * paged.BlockSize
)

var tableMagic = [2][4]byte{{'F', 'U', 'L', 'H'}, {'F', 'U', 'L', 'P'}}

func encodeRecord(b []byte, r record) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(r.id))
	le.PutUint64(b[8:], uint64(r.parent))
	b[16] = uint8(r.kind)
	le.PutUint64(b[17:], uint64(r.size))
	le.PutUint64(b[25:], uint64(r.ext))
	le.PutUint16(b[33:], uint16(len(r.name)))
	copy(b[35:35+strategies.MaxNameLen], r.name)
}

// decodeRecord parses a record; it never panics. Content is checked by
// checkTable.
func decodeRecord(b []byte, slot int) (record, error) {
	le := binary.LittleEndian
	r := record{id: strategies.VolumeID(le.Uint64(b[0:])), parent: strategies.VolumeID(le.Uint64(b[8:])),
		kind: strategies.Kind(b[16]), size: int64(le.Uint64(b[17:])), ext: int64(le.Uint64(b[25:])), slot: slot}
	n := int(le.Uint16(b[33:]))
	if r.id == 0 || n > strategies.MaxNameLen || !paged.IsZero(b[35+n:recSize]) {
		return r, fmt.Errorf("full: %w: volume table slot %d: bad record", strategies.ErrCorrupt, slot)
	}
	r.name = string(b[35 : 35+n])
	return r, nil
}

func (e *Engine) newStore() *paged.Store {
	return paged.New(e.dev, 0, tableMagic, recSize, inlineRecs, e.chunk)
}

// commit makes the table durable, writing only the pages changed since the
// last commit (and the header). On error the changes stay pending.
func (e *Engine) commit() error {
	var m [8]byte
	binary.LittleEndian.PutUint64(m[:], uint64(e.nextID))
	e.store.SetOwner(m[:])
	err := e.store.Commit(func() error { return e.dev.Flush() }, func(sl int, b []byte) {
		encodeRecord(b, e.slotVols[sl].record())
	})
	if err != nil {
		return fmt.Errorf("full: commit: %w", err)
	}
	e.stats.commits++
	return nil
}

// allocSlot gives v a record slot (growing the table if needed).
func (e *Engine) allocSlot(v *volume) error {
	sl, err := e.store.Alloc(func(n int64) (int64, bool) { return e.free.Alloc(n, e.chunk) })
	if err != nil {
		return fmt.Errorf("full: %w", err)
	}
	for len(e.slotVols) <= sl {
		e.slotVols = append(e.slotVols, nil)
	}
	v.slot, e.slotVols[sl] = sl, v
	return nil
}

func (e *Engine) freeSlot(v *volume) {
	if v.slot >= 0 && v.slot < len(e.slotVols) && e.slotVols[v.slot] == v {
		e.slotVols[v.slot] = nil
		e.store.Release(v.slot)
	}
	v.slot = -1
}

// loadTable reads the table with a fresh store (memory's is not touched)
// and returns it by id with the store.
func (e *Engine) loadTable() ([]record, strategies.VolumeID, *paged.Store, error) {
	st := e.newStore()
	var recs []record
	err := st.Load(e.dataStart, e.dev.Size(), func(sl int, b []byte) error {
		r, err := decodeRecord(b, sl)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		if errors.Is(err, strategies.ErrCorrupt) {
			return nil, 0, nil, fmt.Errorf("full: %w", err)
		}
		return nil, 0, nil, fmt.Errorf("full: %w", err)
	}
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.id, b.id) })
	next := strategies.VolumeID(binary.LittleEndian.Uint64(st.Owner()))
	return recs, next, st, nil
}

// checkTable validates a decoded table: ids, names, kinds, parents, sizes,
// extents inside the data area, aligned, and not overlapping.
func (e *Engine) checkTable(recs []record, next strategies.VolumeID, st *paged.Store) error {
	var errs []error
	names := make(map[string]bool, len(recs))
	ids := make(map[strategies.VolumeID]bool, len(recs))
	for i, r := range recs {
		if r.id == 0 || r.id >= next || (i > 0 && recs[i-1].id >= r.id) {
			errs = append(errs, fmt.Errorf("volume %q: id %d out of order or outside [1,%d)", r.name, r.id, next))
		}
		ids[r.id] = true
		if names[r.name] || strategies.ValidateName("full", r.name) != nil {
			errs = append(errs, fmt.Errorf("volume name %q invalid or duplicated", r.name))
		}
		names[r.name] = true
		if r.kind < strategies.KindBase || r.kind > strategies.KindClone {
			errs = append(errs, fmt.Errorf("volume %q: kind %d", r.name, r.kind))
		}
		if r.size <= 0 || r.size%e.chunk != 0 || r.ext < e.dataStart || r.ext%e.chunk != 0 ||
			r.ext+e.bitmapLen(r.size)+r.size > e.dev.Size() || r.ext+e.bitmapLen(r.size)+r.size < r.ext {
			errs = append(errs, fmt.Errorf("volume %q: size %d extent %d outside the data area", r.name, r.size, r.ext))
		}
	}
	for _, r := range recs {
		if r.parent != 0 && !ids[r.parent] {
			errs = append(errs, fmt.Errorf("volume %q: parent %d does not exist", r.name, r.parent))
		}
	}
	type ext struct {
		off, end int64
		name     string
	}
	byOff := make([]ext, 0, len(recs)+len(st.Extents()))
	for _, r := range recs {
		byOff = append(byOff, ext{r.ext, r.ext + e.bitmapLen(r.size) + r.size, fmt.Sprintf("%q", r.name)})
	}
	for i, g := range st.Extents() {
		byOff = append(byOff, ext{g.Off, g.Off + g.Len, fmt.Sprintf("table segment %d", i)})
	}
	slices.SortFunc(byOff, func(a, b ext) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(byOff); i++ {
		if prev := byOff[i-1]; prev.end > byOff[i].off {
			errs = append(errs, fmt.Errorf("extents of %s and %s overlap", prev.name, byOff[i].name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("full: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// Check compares the on-device table and bitmaps with memory: the table
// must match exactly, every bit set on the device must be set in memory (the
// device may lag behind until the next flush, never lead), and space must
// add up.
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	recs, next, st, err := e.loadTable()
	if err != nil {
		return err
	}
	if err := e.checkTable(recs, next, st); err != nil {
		return err
	}
	var errs []error
	if next != e.nextID || len(recs) != len(e.vols) {
		errs = append(errs, fmt.Errorf("device table has %d volumes and next id %d, memory %d and %d", len(recs), next, len(e.vols), e.nextID))
	} else {
		for i, r := range recs {
			v := e.vols[i]
			if r != v.record() {
				errs = append(errs, fmt.Errorf("volume %q: device record %+v differs from memory", v.name, r))
				continue
			}
			disk := e.newVolume(r)
			if err := disk.loadBitmap(); err != nil {
				return err
			}
			for w := range disk.written {
				if extra := disk.written[w] &^ v.written[w]; extra != 0 {
					errs = append(errs, fmt.Errorf("volume %q: chunks written on the device but not in memory near chunk %d", v.name, w*64))
					break
				}
			}
		}
	}
	type ext struct{ off, end int64 }
	var want, got []ext
	e.freeFromVolumes().Each(func(off, end int64) { want = append(want, ext{off, end}) })
	e.free.Each(func(off, end int64) { got = append(got, ext{off, end}) })
	if !slices.Equal(want, got) {
		errs = append(errs, fmt.Errorf("free space: %d extents in memory, the table leaves %d", len(got), len(want)))
	}
	for _, v := range e.vols {
		if e.byName[v.name] != v {
			errs = append(errs, fmt.Errorf("volume %q: not in the name index", v.name))
		}
	}
	if len(e.byName) != len(e.vols) {
		errs = append(errs, fmt.Errorf("%d names indexed for %d volumes", len(e.byName), len(e.vols)))
	}
	if s := e.spaceLocked(); s.Free < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		errs = append(errs, fmt.Errorf("space accounting %+v", s))
	}
	if len(errs) > 0 {
		return fmt.Errorf("full: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

var _ device.Device = (*handle)(nil)
