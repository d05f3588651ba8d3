package full

import (
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// record is one volume-table entry as stored on the device.
type record struct {
	id, parent strategies.VolumeID
	kind       strategies.Kind
	size, ext  int64
	name       string
}

const tableVersion = 1

// encodeTable renders the table: version, next id, count, then per volume
// id, parent, kind, size, extent offset, name.
func (e *Engine) encodeTable() []byte {
	var enc meta.Encoder
	enc.U32(tableVersion)
	enc.U64(uint64(e.nextID))
	enc.U32(uint32(len(e.vols)))
	for _, v := range e.vols {
		enc.U64(uint64(v.id))
		enc.U64(uint64(v.parent))
		enc.U8(uint8(v.kind))
		enc.I64(v.size)
		enc.I64(v.ext)
		enc.String(v.name)
	}
	return enc.B
}

// decodeTable parses a table record. It never panics and bounds every
// allocation by the record's length.
func decodeTable(rec []byte) ([]record, strategies.VolumeID, error) {
	d := meta.Decoder{B: rec}
	if v := d.U32(); v != tableVersion {
		return nil, 0, fmt.Errorf("full: %w: volume table version %d", strategies.ErrCorrupt, v)
	}
	next := strategies.VolumeID(d.U64())
	n := int(d.U32())
	if n > len(rec)/35 { // every entry takes at least 35 bytes
		return nil, 0, fmt.Errorf("full: %w: volume table claims %d entries in %d bytes", strategies.ErrCorrupt, n, len(rec))
	}
	recs := make([]record, 0, n)
	for i := 0; i < n; i++ {
		r := record{id: strategies.VolumeID(d.U64()), parent: strategies.VolumeID(d.U64()),
			kind: strategies.Kind(d.U8()), size: d.I64(), ext: d.I64(), name: d.String(strategies.MaxNameLen)}
		recs = append(recs, r)
	}
	if d.Err() != nil {
		return nil, 0, fmt.Errorf("full: %w: volume table: %v", strategies.ErrCorrupt, d.Err())
	}
	return recs, next, nil
}

func (e *Engine) commit() error {
	rec := e.encodeTable()
	if len(rec) > e.slots.MaxPayload() {
		return fmt.Errorf("full: volume table full (%d volumes): %w", len(e.vols), strategies.ErrNoSpace)
	}
	if err := e.slots.Commit(rec); err != nil {
		return fmt.Errorf("full: commit: %w", err)
	}
	e.stats.commits++
	return nil
}

func (e *Engine) loadTable() ([]record, strategies.VolumeID, error) {
	rec, err := e.slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		return nil, 0, fmt.Errorf("full: %w: no valid volume table", strategies.ErrCorrupt)
	case err != nil:
		return nil, 0, fmt.Errorf("full: %w", err)
	}
	return decodeTable(rec)
}

// checkTable validates a decoded table: ids, names, kinds, parents, sizes,
// extents inside the data area, aligned, and not overlapping.
func (e *Engine) checkTable(recs []record, next strategies.VolumeID) error {
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
	byOff := slices.Clone(recs)
	slices.SortFunc(byOff, func(a, b record) int { return int(a.ext - b.ext) })
	for i := 1; i < len(byOff); i++ {
		prev := byOff[i-1]
		if end := prev.ext + e.bitmapLen(prev.size) + prev.size; end > byOff[i].ext {
			errs = append(errs, fmt.Errorf("extents of %q and %q overlap", prev.name, byOff[i].name))
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
	recs, next, err := e.loadTable()
	if err != nil {
		return err
	}
	if err := e.checkTable(recs, next); err != nil {
		return err
	}
	var errs []error
	if next != e.nextID || len(recs) != len(e.vols) {
		errs = append(errs, fmt.Errorf("device table has %d volumes and next id %d, memory %d and %d", len(recs), next, len(e.vols), e.nextID))
	} else {
		for i, r := range recs {
			v := e.vols[i]
			if r != (record{id: v.id, parent: v.parent, kind: v.kind, size: v.size, ext: v.ext, name: v.name}) {
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
	e.freeFromVolumes().each(func(off, end int64) { want = append(want, ext{off, end}) })
	e.free.each(func(off, end int64) { got = append(got, ext{off, end}) })
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
