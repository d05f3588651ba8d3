package strategytest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// fixture is an engine on a fresh memory device, for scripted cases.
type fixture struct {
	t    *testing.T
	cfg  Config
	dev  device.Device
	eng  strategies.Engine
	caps strategies.Caps
}

func newFixture(t *testing.T, cfg Config) *fixture {
	f := &fixture{t: t, cfg: cfg, dev: newDevice(t, cfg)}
	if ownDevice(f.dev) {
		t.Cleanup(func() { f.dev.Close() }) // after the engine's Close below
	}
	f.eng = format(t, cfg, f.dev)
	f.caps = f.eng.Caps()
	t.Cleanup(func() {
		if err := f.eng.Check(); err != nil {
			t.Errorf("Check at end of case: %v", err)
		}
		f.eng.Close()
	})
	return f
}

func (f *fixture) chunk() int { return f.cfg.Options.ChunkSize }

// sec is the device sector size: the smallest write.
func (f *fixture) sec() int { return f.cfg.SectorSize }

func (f *fixture) create(name string, chunks int) strategies.VolumeID {
	f.t.Helper()
	id, err := f.eng.Create(name, int64(chunks*f.chunk()))
	if err != nil {
		f.t.Fatalf("create %s: %v", name, err)
	}
	return id
}

func (f *fixture) open(id strategies.VolumeID) strategies.Volume {
	f.t.Helper()
	v, err := f.eng.Open(id)
	if err != nil {
		f.t.Fatalf("open %d: %v", id, err)
	}
	f.t.Cleanup(func() { v.Close() })
	return v
}

// pattern returns n bytes that depend on tag and offset.
func pattern(tag byte, n int) []byte {
	b := device.Alloc(n)
	for i := range b {
		b[i] = tag ^ byte(i*7+i>>9)
	}
	return b
}

func (f *fixture) write(v strategies.Volume, off int64, data []byte) {
	f.t.Helper()
	if _, err := v.WriteAt(data, off); err != nil {
		f.t.Fatalf("write volume %d off %d: %v", v.ID(), off, err)
	}
}

func (f *fixture) expect(v strategies.Volume, off int64, want []byte) {
	f.t.Helper()
	got := device.Alloc(len(want))
	if _, err := v.ReadAt(got, off); err != nil {
		f.t.Fatalf("read volume %d off %d: %v", v.ID(), off, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		f.t.Fatalf("volume %d: content differs at offset %d (read %#x, want %#x)", v.ID(), off+int64(i), got[i], want[i])
	}
}

// reopen flushes, closes and reopens on a cleanly shut-down copy.
func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.eng.Flush(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.eng.Close(); err != nil {
		f.t.Fatal(err)
	}
	if m, ok := f.dev.(*device.Mem); ok {
		f.dev = m.Reopen()
	}
	e, err := strategies.Open(f.dev)
	if err != nil {
		f.t.Fatalf("reopen: %v", err)
	}
	f.eng = e
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want an error wrapping %q", what, err, target)
	}
}

func runScripted(t *testing.T, cfg Config) {
	cases := []struct {
		name string
		need func(strategies.Caps) bool
		run  func(f *fixture)
	}{
		{"CreateWriteReadReopen", nil, caseCreateWriteRead},
		{"BadInput", nil, caseBadInput},
		{"SingleVolume", func(c strategies.Caps) bool { return !c.MultiVolume }, caseSingleVolume},
		{"Unsupported", nil, caseUnsupported},
		{"SnapshotIsolation", func(c strategies.Caps) bool { return c.Snapshot }, caseSnapshotIsolation},
		{"CloneIsolation", func(c strategies.Caps) bool { return c.Clone }, caseCloneIsolation},
		{"PartialChunkWrites", func(c strategies.Caps) bool { return c.Clone }, casePartialChunk},
		{"Nested", func(c strategies.Caps) bool { return c.Nested && c.Clone && c.Snapshot }, caseNested},
		{"DeleteOrders", func(c strategies.Caps) bool { return c.Snapshot || c.Clone }, caseDeleteOrders},
		{"Busy", nil, caseBusy},
		{"HandleLifecycle", nil, caseHandleLifecycle},
		{"ManyClones", func(c strategies.Caps) bool { return c.Clone }, caseManyClones},
		{"ManyDeletes", func(c strategies.Caps) bool { return c.Clone }, caseManyDeletes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, cfg)
			if c.need != nil && !c.need(f.caps) {
				t.Skipf("%s: capabilities %+v exclude this case", cfg.Engine, f.caps)
			}
			c.run(f)
		})
	}
}

func caseCreateWriteRead(f *fixture) {
	id := f.create("base", 4)
	v := f.open(id)
	if v.Size() != int64(4*f.chunk()) || v.ID() != id {
		f.t.Fatalf("size %d id %d, want %d %d", v.Size(), v.ID(), 4*f.chunk(), id)
	}
	f.expect(v, 0, make([]byte, 4*f.chunk())) // new volumes read as zeros
	a := pattern(1, f.chunk()+2*f.sec())
	f.write(v, int64(f.chunk()-f.sec()), a)
	f.expect(v, int64(f.chunk()-f.sec()), a)
	if err := v.Flush(); err != nil {
		f.t.Fatal(err)
	}
	v.Close()
	f.reopen()
	got, err := strategies.Lookup(f.eng, "base")
	if err != nil || got != id {
		f.t.Fatalf("after reopen: lookup base = %d, %v; want %d", got, err, id)
	}
	v = f.open(id)
	f.expect(v, int64(f.chunk()-f.sec()), a)
	f.expect(v, 0, make([]byte, f.chunk()-f.sec()))
}

func caseBadInput(f *fixture) {
	t := f.t
	_, err := f.eng.Create("", int64(f.chunk()))
	wantErr(t, "empty name", err, strategies.ErrInvalidArgument)
	_, err = f.eng.Create("has space", int64(f.chunk()))
	wantErr(t, "name with space", err, strategies.ErrInvalidArgument)
	_, err = f.eng.Create("x", 0)
	wantErr(t, "size 0", err, strategies.ErrInvalidArgument)
	_, err = f.eng.Create("x", int64(f.chunk())+int64(f.chunk())/2)
	wantErr(t, "size not a chunk multiple", err, strategies.ErrInvalidArgument)
	if !f.caps.Thin {
		_, err = f.eng.Create("huge", 1<<50)
		wantErr(t, "size beyond the device", err, strategies.ErrNoSpace)
	}
	id := f.create("base", 2)
	if f.caps.MultiVolume {
		_, err = f.eng.Create("base", int64(f.chunk()))
		wantErr(t, "duplicate name", err, strategies.ErrExists)
	}
	_, err = f.eng.Open(id + 1000)
	wantErr(t, "open unknown id", err, strategies.ErrNotFound)
	wantErr(t, "delete unknown id", f.eng.Delete(id+1000), strategies.ErrNotFound)
	v := f.open(id)
	_, err = v.ReadAt(device.Alloc(f.sec()), v.Size())
	wantErr(t, "read past end", err, device.ErrOutOfRange)
	_, err = v.WriteAt(device.Alloc(2*f.sec()), v.Size()-int64(f.sec()))
	wantErr(t, "write past end", err, device.ErrOutOfRange)
	_, err = v.WriteAt(device.Alloc(f.sec()), 100)
	wantErr(t, "unaligned offset", err, device.ErrUnaligned)
	_, err = v.ReadAt(device.Alloc(4096)[:100], 0)
	wantErr(t, "unaligned length", err, device.ErrUnaligned)
	if f.caps.Snapshot {
		_, err = f.eng.Snapshot(id, "base")
		wantErr(t, "snapshot with a taken name", err, strategies.ErrExists)
		_, err = f.eng.Snapshot(id+1000, "s")
		wantErr(t, "snapshot of unknown id", err, strategies.ErrNotFound)
	}
}

func caseSingleVolume(f *fixture) {
	f.create("only", 2)
	_, err := f.eng.Create("second", int64(f.chunk()))
	wantErr(f.t, "second volume", err, strategies.ErrUnsupported)
}

func caseUnsupported(f *fixture) {
	id := f.create("base", 2)
	_, serr := f.eng.Snapshot(id, "s")
	_, cerr := f.eng.Clone(id, "c")
	if !f.caps.Snapshot {
		wantErr(f.t, "snapshot without the capability", serr, strategies.ErrUnsupported)
	} else if serr != nil {
		f.t.Fatalf("snapshot: %v", serr)
	}
	if !f.caps.Clone {
		wantErr(f.t, "clone without the capability", cerr, strategies.ErrUnsupported)
	} else if cerr != nil {
		f.t.Fatalf("clone: %v", cerr)
	}
	if !f.caps.Nested && f.caps.Snapshot && f.caps.Clone {
		c, _ := strategies.Lookup(f.eng, "c")
		_, err := f.eng.Snapshot(c, "s2")
		wantErr(f.t, "snapshot of a clone without Nested", err, strategies.ErrUnsupported)
		s, _ := strategies.Lookup(f.eng, "s")
		_, err = f.eng.Clone(s, "c2")
		wantErr(f.t, "clone of a snapshot without Nested", err, strategies.ErrUnsupported)
	}
}
