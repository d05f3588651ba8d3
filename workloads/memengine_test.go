package workloads

import (
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// memEngine is a test engine that keeps volumes in memory as maps of
// shared, reference-counted chunks (so snapshot semantics are real and
// space can run out), with capabilities set by options. It lets the
// scenarios be tested on every combination of caps while the real engines
// are written.
type memEngine struct {
	mu      sync.Mutex
	chunk   int64
	sector  int
	capac   int64 // chunks
	used    int64
	next    strategies.VolumeID
	vols    map[strategies.VolumeID]*memVol
	caps    strategies.Caps
	batch   bool
	corrupt bool // flip a byte of every read of a clone (a broken engine)
}

type memVol struct {
	id     strategies.VolumeID
	name   string
	parent strategies.VolumeID
	kind   strategies.Kind
	size   int64
	chunks map[int64]*memChunk
	open   int
}

type memChunk struct {
	data []byte
	refs int
}

type memBatchEngine struct{ *memEngine }

func init() {
	strategies.Register(strategies.Factory{
		Name: "wltest",
		Doc:  "workloads test engine: chunks in memory, caps by option",
		Params: []strategies.Param{
			{Name: "nested", Default: "true"}, {Name: "delete_parent", Default: "true"},
			{Name: "batch", Default: "true"}, {Name: "snapshot", Default: "true"}, {Name: "clone", Default: "true"},
			{Name: "capacity", Default: "0", Help: "chunks; 0: the device area"},
			{Name: "corrupt", Default: "false"},
		},
		Validate: func(device.Device, strategies.Options) error { return nil },
		Format:   formatMemEngine,
		Open: func(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
			return nil, fmt.Errorf("wltest: cannot reopen")
		},
	})
}

func formatMemEngine(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	b := func(k string) bool { v, _ := strconv.ParseBool(opts.Params[k]); return v }
	c, _ := strconv.ParseInt(opts.Params["capacity"], 10, 64)
	e := &memEngine{chunk: int64(opts.ChunkSize), sector: dev.SectorSize(), capac: c, next: 1,
		vols: map[strategies.VolumeID]*memVol{}, batch: b("batch"), corrupt: b("corrupt"),
		caps: strategies.Caps{Snapshot: b("snapshot"), Clone: b("clone"), Nested: b("nested"),
			DeleteParent: b("delete_parent"), MultiVolume: true, Thin: true}}
	if e.capac == 0 {
		e.capac = dev.Size() / e.chunk
	}
	if e.batch {
		return memBatchEngine{e}, nil
	}
	return e, nil
}

func (e *memEngine) Name() string          { return "wltest" }
func (e *memEngine) Caps() strategies.Caps { return e.caps }

func (e *memEngine) Create(name string, size int64) (strategies.VolumeID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := strategies.ValidateSize("wltest", size, int(e.chunk)); err != nil {
		return 0, err
	}
	return e.addLocked(&memVol{name: name, kind: strategies.KindBase, size: size, chunks: map[int64]*memChunk{}})
}

func (e *memEngine) addLocked(v *memVol) (strategies.VolumeID, error) {
	for _, o := range e.vols {
		if o.name == v.name {
			return 0, fmt.Errorf("wltest: %q: %w", v.name, strategies.ErrExists)
		}
	}
	v.id = e.next
	e.next++
	e.vols[v.id] = v
	return v.id, nil
}

func (e *memEngine) copyLocked(src strategies.VolumeID, name string, kind strategies.Kind) (strategies.VolumeID, error) {
	s := e.vols[src]
	if s == nil {
		return 0, fmt.Errorf("wltest: %d: %w", src, strategies.ErrNotFound)
	}
	if s.kind != strategies.KindBase && !e.caps.Nested {
		return 0, fmt.Errorf("wltest: copy of a copy: %w", strategies.ErrUnsupported)
	}
	if e.used >= e.capac {
		return 0, fmt.Errorf("wltest: %w", strategies.ErrNoSpace)
	}
	v := &memVol{name: name, parent: src, kind: kind, size: s.size, chunks: make(map[int64]*memChunk, len(s.chunks))}
	for k, c := range s.chunks {
		c.refs++
		v.chunks[k] = c
	}
	return e.addLocked(v)
}

func (e *memEngine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	if !e.caps.Snapshot {
		return 0, fmt.Errorf("wltest: snapshot: %w", strategies.ErrUnsupported)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.copyLocked(src, name, strategies.KindSnapshot)
}

func (e *memEngine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	if !e.caps.Clone {
		return 0, fmt.Errorf("wltest: clone: %w", strategies.ErrUnsupported)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.copyLocked(src, name, strategies.KindClone)
}

func (b memBatchEngine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	var ids []strategies.VolumeID
	for _, n := range names {
		id, err := b.Clone(src, n)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (e *memEngine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vols[id]
	if v == nil {
		return fmt.Errorf("wltest: %d: %w", id, strategies.ErrNotFound)
	}
	if v.open > 0 {
		return fmt.Errorf("wltest: %q: %w", v.name, strategies.ErrBusy)
	}
	for _, o := range e.vols {
		if o.parent == id && !e.caps.DeleteParent {
			return fmt.Errorf("wltest: %q: %w", v.name, strategies.ErrHasChildren)
		}
	}
	for _, o := range e.vols {
		if o.parent == id {
			o.parent = 0
		}
	}
	for _, c := range v.chunks {
		if c.refs--; c.refs == 0 {
			e.used--
		}
	}
	delete(e.vols, id)
	return nil
}

func (e *memEngine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vols[id]
	if v == nil {
		return nil, fmt.Errorf("wltest: %d: %w", id, strategies.ErrNotFound)
	}
	v.open++
	return &memHandle{e: e, v: v}, nil
}

func (e *memEngine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []strategies.VolumeInfo
	for _, v := range e.vols {
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: v.parent, Kind: v.kind, Size: v.size,
			ReadOnly: v.kind == strategies.KindSnapshot, Valid: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (e *memEngine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strategies.Space{Capacity: e.capac * e.chunk, Data: e.used * e.chunk, Free: (e.capac - e.used) * e.chunk}
}

func (e *memEngine) Flush() error { return nil }
func (e *memEngine) Check() error { return nil }
func (e *memEngine) Close() error { return nil }

// digest hashes every volume's content, for determinism tests.
func (e *memEngine) digest() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	ids := make([]int, 0, len(e.vols))
	for id := range e.vols {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		v := e.vols[strategies.VolumeID(id)]
		fmt.Fprintf(h, "%d %s %d\n", v.id, v.name, v.kind)
		keys := make([]int64, 0, len(v.chunks))
		for k := range v.chunks {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			fmt.Fprintf(h, "%d:", k)
			h.Write(v.chunks[k].data)
		}
	}
	return uint64(h.Sum32())
}

type memHandle struct {
	e      *memEngine
	v      *memVol
	closed bool
}

func (h *memHandle) ID() strategies.VolumeID { return h.v.id }
func (h *memHandle) Size() int64             { return h.v.size }
func (h *memHandle) SectorSize() int         { return h.e.sector }
func (h *memHandle) Flush() error            { return nil }

func (h *memHandle) Close() error {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if h.closed {
		return strategies.ErrClosed
	}
	h.closed = true
	h.v.open--
	return nil
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	if err := device.CheckIO(p, off, h.e.sector, 512, h.v.size); err != nil {
		return 0, err
	}
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	for done := int64(0); done < int64(len(p)); {
		k, in := (off+done)/h.e.chunk, (off+done)%h.e.chunk
		n := min(int64(len(p))-done, h.e.chunk-in)
		if c := h.v.chunks[k]; c != nil {
			copy(p[done:done+n], c.data[in:in+n])
		} else {
			clear(p[done : done+n])
		}
		done += n
	}
	if h.e.corrupt && h.v.kind == strategies.KindClone {
		p[len(p)-1] ^= 1
	}
	return len(p), nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	if err := device.CheckIO(p, off, h.e.sector, 512, h.v.size); err != nil {
		return 0, err
	}
	if h.v.kind == strategies.KindSnapshot {
		return 0, strategies.ErrReadOnly
	}
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	for done := int64(0); done < int64(len(p)); {
		k, in := (off+done)/h.e.chunk, (off+done)%h.e.chunk
		n := min(int64(len(p))-done, h.e.chunk-in)
		c := h.v.chunks[k]
		switch {
		case c == nil:
			if h.e.used >= h.e.capac {
				return int(done), fmt.Errorf("wltest: %w", strategies.ErrNoSpace)
			}
			h.e.used++
			c = &memChunk{data: make([]byte, h.e.chunk), refs: 1}
			h.v.chunks[k] = c
		case c.refs > 1:
			if h.e.used >= h.e.capac {
				return int(done), fmt.Errorf("wltest: %w", strategies.ErrNoSpace)
			}
			h.e.used++
			c.refs--
			c = &memChunk{data: append([]byte(nil), c.data...), refs: 1}
			h.v.chunks[k] = c
		}
		copy(c.data[in:in+n], p[done:done+n])
		done += n
	}
	return len(p), nil
}
