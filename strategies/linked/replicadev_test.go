package linked

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// switchDevice is a test replica device whose next device the test sets:
// the crash test hands the engine a faulty device, then a crashed copy.
type switchDevice struct {
	mu  sync.Mutex
	dev device.Device
}

func (s *switchDevice) set(d device.Device) { s.mu.Lock(); s.dev = d; s.mu.Unlock() }
func (s *switchDevice) open(bool) (device.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return keepOpen{s.dev}, nil
}

// keepOpen ignores Close: Format's validation opens and closes the replica
// device before Format opens it again, and a closed device.Mem stays closed.
type keepOpen struct{ device.Device }

func (keepOpen) Close() error { return nil }

var testDevSeq atomic.Int64

// uniqueDevName returns a fresh test device name.
func uniqueDevName(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), testDevSeq.Add(1))
}

// newRepFixture: a linked engine on a 64 MiB memory device with its
// replicas on a 16 MiB memory replica device.
func newRepFixture(t *testing.T) (*fixture, *MemReplicaDevice) {
	t.Helper()
	name := uniqueDevName(t)
	rd := RegisterMemReplicaDevice(t, name, 16<<20, 512)
	return newFixture(t, map[string]string{"replica-device": testDevicePrefix + name}), rd
}

func (f *fixture) repCounts() (used, meta uint32) { return f.e.ralloc.counts() }

func TestReplicaDeviceLayout(t *testing.T) {
	f, rd := newRepFixture(t)
	base := f.create("tmpl", 4)
	a := fill(1, 4*testChunk)
	f.write(base, 0, a)
	mainBefore, _ := f.e.alloc.counts()
	c1 := f.must(f.e.Clone(base, "c1"))
	c2 := f.must(f.e.Clone(base, "c2"))
	reps := f.internal(roleReplica)
	if len(reps) != 1 {
		t.Fatalf("%d replicas, want 1", len(reps))
	}
	rdlt := reps[0].d
	for _, x := range rdlt.gd {
		if x <= f.e.geo.nPool {
			t.Fatalf("replica grain table in main pool grain %d", x)
		}
	}
	rdlt.forEach(func(_, v uint32) {
		if v <= f.e.geo.nPool {
			t.Fatalf("replica data in main pool grain %d", v)
		}
	})
	// 4 data grains and 1 table grain on the replica device; on the main
	// device nothing more: the clones' tables come with their first
	// writes, and the catalog bucket is replaced, not added to.
	if used, meta := f.repCounts(); used != 5 || meta != 1 {
		t.Fatalf("replica pool: %d used, %d meta; want 5 and 1", used, meta)
	}
	if mainAfter, _ := f.e.alloc.counts(); mainAfter != mainBefore {
		t.Fatalf("main pool grew by %d grains, want 0", mainAfter-mainBefore)
	}
	s := f.e.Space()
	if want := f.e.geo.area + rd.cur.Size(); s.Capacity != want {
		t.Fatalf("capacity %d, want both devices %d", s.Capacity, want)
	}
	if s.Data != 8*testChunk { // the template's 4 grains and the replica's 4
		t.Fatalf("data %d, want %d", s.Data, 8*testChunk)
	}
	f.check()
	f.expect(c1, 0, a)
	f.expect(c2, 0, a)
	// A partial write to a clone copies up from the replica device.
	x := fill(7, 4096)
	f.write(c1, testChunk+512, x)
	want := append([]byte(nil), a...)
	copy(want[testChunk+512:], x)
	f.expect(c1, 0, want)
	f.reopen()
	f.expect(c1, 0, want)
	f.expect(c2, 0, a)
	f.check()
	// The template goes; then its clones, and with the last the replica.
	for _, id := range []strategies.VolumeID{base, c1, c2} {
		if err := f.e.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	f.check()
	if used, _ := f.repCounts(); used != 0 {
		t.Fatalf("%d replica grains left after deleting everything", used)
	}
	if s := f.e.Space(); s.Data != 0 {
		t.Fatalf("data left: %+v", s)
	}
}

func TestReplicaDeviceFull(t *testing.T) {
	name := uniqueDevName(t)
	// A replica pool of 3 grains (header area 128 KiB): a 4-grain template
	// cannot get a replica.
	RegisterMemReplicaDevice(t, name, 128<<10+3*testChunk, 512)
	f := newFixture(t, map[string]string{"replica-device": testDevicePrefix + name})
	base := f.create("tmpl", 4)
	f.write(base, 0, fill(1, 4*testChunk))
	_, err := f.e.Clone(base, "c1")
	if !errors.Is(err, strategies.ErrNoSpace) || !strings.Contains(err.Error(), "replica device") {
		t.Fatalf("clone with a full replica device: %v, want ErrNoSpace naming the device", err)
	}
	f.check()
	small := f.create("small", 1)
	f.write(small, 0, fill(2, testChunk))
	f.must(f.e.Clone(small, "c2"))
	f.check()
}

// TestReplicaDeviceRefused: a replica device of another engine, one with no
// header, and a missing one are refused at Open with clear errors.
func TestReplicaDeviceRefused(t *testing.T) {
	nameA, nameB := uniqueDevName(t), uniqueDevName(t)
	rdA := RegisterMemReplicaDevice(t, nameA, 8<<20, 512)
	rdB := RegisterMemReplicaDevice(t, nameB, 8<<20, 512)
	format := func(rep string) *device.Mem {
		mem := device.MustMem(32 << 20)
		e, err := strategies.Format("linked", mem, strategies.Options{ChunkSize: testChunk,
			Params: map[string]string{"replica-device": testDevicePrefix + rep}})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := e.Create("b", testChunk)
		if _, err := e.Clone(id, "c"); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return mem
	}
	memA := format(nameA)
	format(nameB)
	openWith := func(mem *device.Mem, rep string) error {
		area, err := device.NewSub(mem.Reopen(), strategies.ReservedBytes, mem.Size()-strategies.ReservedBytes)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(area, strategies.Options{ChunkSize: testChunk, Params: map[string]string{"replica-device": rep}})
		if err == nil {
			return e.Close()
		}
		return err
	}
	if err := openWith(memA, testDevicePrefix+nameA); err != nil {
		t.Fatalf("open with its own replica device: %v", err)
	}
	// Swapped: A's catalog, B's replica device.
	err := openWith(memA, testDevicePrefix+nameB)
	if !errors.Is(err, strategies.ErrInvalidArgument) || !strings.Contains(err.Error(), "belongs to another engine") {
		t.Fatalf("swapped replica device: %v", err)
	}
	// No header: a blank device.
	rdB.cur = device.MustMem(8 << 20)
	err = openWith(memA, testDevicePrefix+nameB)
	if !errors.Is(err, strategies.ErrInvalidArgument) || !strings.Contains(err.Error(), "no linked replica header") {
		t.Fatalf("blank replica device: %v", err)
	}
	// A damaged header.
	hdr := device.Alloc(512)
	rdA.cur = rdA.cur.Reopen() // the engine closed the last one
	if _, err := rdA.cur.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	hdr[20] ^= 1
	if _, err := rdA.cur.WriteAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	if err := openWith(memA, testDevicePrefix+nameA); !errors.Is(err, strategies.ErrCorrupt) {
		t.Fatalf("damaged replica header: %v", err)
	}
	// Formatted with one, opened without, and the reverse.
	if err := openWith(memA, ""); !errors.Is(err, strategies.ErrInvalidArgument) || !strings.Contains(err.Error(), "none is configured") {
		t.Fatalf("opened without its replica device: %v", err)
	}
	plain := device.MustMem(32 << 20)
	if e, err := strategies.Format("linked", plain, strategies.Options{ChunkSize: testChunk}); err != nil {
		t.Fatal(err)
	} else {
		e.Close()
	}
	rdB.cur = nil // Open of a never-formatted test device: a blank one
	if err := openWith(plain, testDevicePrefix+nameB); !errors.Is(err, strategies.ErrInvalidArgument) {
		t.Fatalf("plain engine opened with a replica device: %v", err)
	}
	// An unregistered test name, as the command line would give it.
	_, err = strategies.Format("linked", device.MustMem(32<<20), strategies.Options{ChunkSize: testChunk,
		Params: map[string]string{"replica-device": "mem:nobody"}})
	if !errors.Is(err, strategies.ErrInvalidArgument) || !strings.Contains(err.Error(), "only in tests") {
		t.Fatalf("unregistered mem: device: %v", err)
	}
}

// TestReplicaDeviceCrash crashes both memory devices at every device
// operation (counted over both) of a script of clone creations: the first
// clone of a template (its replica written to the replica device), a later
// clone reusing it, a recompose after a template write, a burst, and
// deletes that free a replica. Each device keeps its own random part of its
// unflushed writes. After reopening, every completed operation must be
// durable, the one in flight all or nothing, every clone exactly its
// template's point-in-time content, and Check must pass; then the engine
// keeps working.
func TestReplicaDeviceCrash(t *testing.T) {
	const (
		vol   = 4 * testChunk
		total = 1 << 30
	)
	a := fill(1, vol)
	b := fill(5, 512) // one sector: the template reads all old or all new
	a2 := append([]byte(nil), a...)
	copy(a2[testChunk:], b)
	x := fill(9, 512)
	c1x := append([]byte(nil), a...)
	copy(c1x[2*testChunk:], x)

	writeFlush := func(e strategies.Engine, id strategies.VolumeID, data []byte, off int64) error {
		v, err := e.Open(id)
		if err != nil {
			return err
		}
		defer v.Close()
		if _, err := v.WriteAt(data, off); err != nil {
			return err
		}
		return v.Flush()
	}
	ids := map[string]strategies.VolumeID{}
	// The script; step i returns an error from the device or nil.
	steps := []func(e strategies.Engine) error{
		func(e strategies.Engine) (err error) { ids["c1"], err = e.Clone(ids["tmpl"], "c1"); return },
		func(e strategies.Engine) (err error) { ids["c2"], err = e.Clone(ids["tmpl"], "c2"); return },
		func(e strategies.Engine) error { return writeFlush(e, ids["tmpl"], b, testChunk) },
		func(e strategies.Engine) error {
			got, err := strategies.CloneMany(e, ids["tmpl"], []string{"c3", "c4"})
			if err == nil {
				ids["c3"], ids["c4"] = got[0], got[1]
			}
			return err
		},
		func(e strategies.Engine) error { return writeFlush(e, ids["c1"], x, 2*testChunk) },
		func(e strategies.Engine) error { return e.Delete(ids["c2"]) },
		func(e strategies.Engine) error { return e.Delete(ids["c1"]) }, // frees the first replica
	}
	// expect: what each volume may hold after a crash with steps [0,done)
	// complete and step done in flight (if done < len(steps)).
	expect := func(done int) (must, may map[string][][]byte) {
		must, may = map[string][][]byte{}, map[string][][]byte{}
		put := func(name string, inFlight bool, contents ...[]byte) {
			if inFlight {
				may[name] = contents
			} else {
				must[name] = contents
			}
		}
		tmpl := [][]byte{a}
		switch {
		case done > 2:
			tmpl = [][]byte{a2}
		case done == 2:
			tmpl = [][]byte{a, a2}
		}
		put("tmpl", false, tmpl...)
		if done >= 0 && done < 7 { // c1 until step 6 completes
			c1 := [][]byte{a}
			if done > 4 {
				c1 = [][]byte{c1x}
			} else if done == 4 {
				c1 = [][]byte{a, c1x}
			}
			put("c1", done == 0 || done == 6, c1...)
		}
		if done >= 1 && done < 6 {
			put("c2", done == 1 || done == 5, a)
		}
		if done >= 3 {
			put("c3", done == 3, a2)
			put("c4", done == 3, a2)
		}
		return must, may
	}

	rep := &switchDevice{}
	name := uniqueDevName(t)
	t.Cleanup(registerTestDevice(name, rep.open))
	opts := strategies.Options{ChunkSize: testChunk, Params: map[string]string{"replica-device": testDevicePrefix + name}}

	// run formats, sets up the template, then runs the script with the
	// devices failing from operation crashAt (counted from the script's
	// start over both devices); it returns both memories, the engine and
	// how many steps completed.
	run := func(crashAt uint64) (mainMem, repMem *device.Mem, e strategies.Engine, done int, ops uint64) {
		mainMem, repMem = device.MustMem(24<<20), device.MustMem(4<<20)
		var count atomic.Uint64
		var armed atomic.Bool
		inj := device.InjectorFunc(func(device.Op) device.Fault {
			if armed.Load() && count.Add(1)-1 >= crashAt {
				return device.Fault{Err: device.ErrInjected}
			}
			return device.Fault{}
		})
		rep.set(device.NewFaulty(repMem, inj))
		var err error
		e, err = strategies.Format("linked", device.NewFaulty(mainMem, inj), opts)
		if err != nil {
			t.Fatal(err)
		}
		if ids["tmpl"], err = e.Create("tmpl", vol); err != nil {
			t.Fatal(err)
		}
		if err := writeFlush(e, ids["tmpl"], a, 0); err != nil {
			t.Fatal(err)
		}
		armed.Store(true)
		for done = 0; done < len(steps); done++ {
			if err := steps[done](e); err != nil {
				if !errors.Is(err, device.ErrInjected) {
					t.Fatalf("step %d: %v", done, err)
				}
				break
			}
		}
		return mainMem, repMem, e, done, count.Load()
	}
	_, _, e, done, totalOps := run(total)
	if done != len(steps) {
		t.Fatalf("dry run stopped at step %d", done)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	e.Close()

	t.Logf("%d device operations in the script, each a crash point", totalOps)
	keeps := [][2]float64{{0, 0}, {1, 0}, {0, 1}, {0.5, 0.5}, {1, 1}}
	for at := uint64(0); at <= totalOps; at++ {
		mainMem, repMem, e, done, _ := run(at)
		e.Close()
		k := keeps[at%uint64(len(keeps))]
		rng := rand.New(rand.NewPCG(at, 3))
		what := fmt.Sprintf("crash at op %d of %d (step %d in flight, keep main %.1f replica %.1f)", at, totalOps, done, k[0], k[1])
		rep.set(repMem.CrashClone(rng, k[1]))
		eng, err := strategies.Open(mainMem.CrashClone(rng, k[0]))
		if err != nil {
			t.Fatalf("%s: reopen: %v", what, err)
		}
		if err := eng.Check(); err != nil {
			t.Fatalf("%s: Check: %v", what, err)
		}
		must, may := expect(done)
		seen := map[string]bool{}
		for _, vi := range eng.Volumes() {
			if vi.Kind == strategies.KindInternal {
				continue
			}
			seen[vi.Name] = true
			allowed, ok := must[vi.Name]
			if !ok {
				allowed, ok = may[vi.Name]
			}
			if !ok {
				t.Fatalf("%s: volume %q should not exist", what, vi.Name)
			}
			v, err := eng.Open(vi.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := device.Alloc(vol)
			if _, err := v.ReadAt(got, 0); err != nil {
				t.Fatalf("%s: read %q: %v", what, vi.Name, err)
			}
			v.Close()
			match := false
			for _, w := range allowed {
				match = match || bytes.Equal(got, w)
			}
			if !match {
				t.Fatalf("%s: %q holds none of its %d allowed contents", what, vi.Name, len(allowed))
			}
			ids[vi.Name] = vi.ID
		}
		for n := range must {
			if !seen[n] {
				t.Fatalf("%s: volume %q lost", what, n)
			}
		}
		if seen["c3"] != seen["c4"] {
			t.Fatalf("%s: half a clone burst survived", what)
		}
		// The engine keeps working: one more clone of the template, then
		// everything goes, replicas included.
		after, err := eng.Clone(ids["tmpl"], "after")
		if err != nil {
			t.Fatalf("%s: clone after reopen: %v", what, err)
		}
		for _, vi := range eng.Volumes() {
			if vi.Kind != strategies.KindInternal && vi.ID != after {
				if err := eng.Delete(vi.ID); err != nil {
					t.Fatalf("%s: delete %q: %v", what, vi.Name, err)
				}
			}
		}
		if err := eng.Delete(after); err != nil {
			t.Fatal(err)
		}
		if err := eng.Check(); err != nil {
			t.Fatalf("%s: Check after cleanup: %v", what, err)
		}
		if s := eng.Space(); s.Data != 0 || len(eng.Volumes()) != 0 {
			t.Fatalf("%s: after deleting everything: %+v, %d volumes", what, s, len(eng.Volumes()))
		}
		eng.Close()
	}
}

// TestReplicaDeviceFiles runs the engine on two real files through
// device.Open (direct IO): format, clone, write, reopen through the
// superblock; the replica device is locked while the engine is open, and a
// file of another engine is refused.
func TestReplicaDeviceFiles(t *testing.T) {
	dir := t.TempDir()
	mainPath, repPath := filepath.Join(dir, "main.img"), filepath.Join(dir, "rep.img")
	otherMain, otherPath := filepath.Join(dir, "other-main.img"), filepath.Join(dir, "other-rep.img")
	for _, p := range []string{repPath, otherPath} {
		f, err := device.Open(p, device.Options{Size: 8 << 20})
		if err != nil {
			t.Skipf("direct-IO file device: %v", err)
		}
		f.Close()
	}
	mainDev, err := device.Open(mainPath, device.Options{Size: 32 << 20})
	if err != nil {
		t.Skipf("direct-IO file device: %v", err)
	}
	defer mainDev.Close()
	opts := strategies.Options{ChunkSize: testChunk, Params: map[string]string{"replica-device": repPath}}
	eng, err := strategies.Format("linked", mainDev, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	if !device.Describe(e.rdev.Device).DirectIO {
		t.Fatalf("replica device not opened with direct IO: %+v", device.Describe(e.rdev.Device))
	}
	// The engine holds the replica device: a second engine cannot take it.
	other, err := device.Open(otherMain, device.Options{Size: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := strategies.Format("linked", other, opts); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second engine on a replica device in use: %v", err)
	}
	a := fill(3, 4*testChunk)
	base, err := eng.Create("tmpl", 4*testChunk)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, e: e}
	f.write(base, 0, a)
	c1 := f.must(eng.Clone(base, "c1"))
	f.write(c1, 0, fill(8, 512))
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	f.check()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	// A different engine's replica device at the path: refused.
	if o, err := strategies.Format("linked", other, strategies.Options{ChunkSize: testChunk,
		Params: map[string]string{"replica-device": otherPath}}); err != nil {
		t.Fatal(err)
	} else {
		o.Close()
	}
	swapped := strategies.Options{ChunkSize: testChunk, Params: map[string]string{"replica-device": otherPath}}
	area, err := device.NewSub(mainDev, strategies.ReservedBytes, mainDev.Size()-strategies.ReservedBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(area, swapped); err == nil || !strings.Contains(err.Error(), "belongs to another engine") {
		t.Fatalf("swapped replica file: %v", err)
	}
	// Reopen through the superblock, as the command line does.
	eng, err = strategies.Open(mainDev)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	f.e = eng.(*Engine)
	want := append([]byte(nil), a...)
	copy(want, fill(8, 512))
	f.expect(c1, 0, want)
	f.expect(base, 0, a)
	f.check()
	if s := eng.Space(); s.Capacity != f.e.geo.area+8<<20 {
		t.Fatalf("capacity %d, want both devices", s.Capacity)
	}
}

func TestCatalogRoundTripReplicaDevice(t *testing.T) {
	r := &root{chunk: testChunk, sector: 512, nPool: 100, hasRep: true, nRep: 7, nextVol: 3, nextDelta: 4,
		buckets: []bucketRef{{idx: 0, length: 100, crc: 5, grains: []uint32{9}}}}
	copy(r.nonce[:], "0123456789abcdef")
	got, err := decodeRoot(encodeRoot(r))
	if err != nil {
		t.Fatal(err)
	}
	if !got.hasRep || got.nRep != 7 || got.nonce != r.nonce || !bytes.Equal(encodeRoot(got), encodeRoot(r)) {
		t.Fatalf("round trip: %+v", got)
	}
	plain := *r
	plain.hasRep, plain.nRep, plain.nonce = false, 0, [16]byte{}
	if b := encodeRoot(&plain); binary.LittleEndian.Uint32(b) != catalogVersion || len(b) != len(encodeRoot(r))-20 {
		t.Fatalf("catalog without a replica device: version %d, %d bytes", binary.LittleEndian.Uint32(b), len(b))
	}
}

// TestReplicaHeaderWriteErrors: a failed write or flush of the replica
// device's header fails Format (it was once dropped by a shadowed err).
func TestReplicaHeaderWriteErrors(t *testing.T) {
	for _, kind := range []device.OpKind{device.OpWrite, device.OpFlush} {
		t.Run(kind.String(), func(t *testing.T) {
			name := uniqueDevName(t)
			var faulty *device.Faulty
			t.Cleanup(registerTestDevice(name, func(format bool) (device.Device, error) {
				mem := device.MustMem(4 << 20)
				if !format {
					return mem, nil // Validate's look: nothing fails
				}
				faulty = device.NewFaulty(mem, device.FailWhen(kind, 0, 4096, nil))
				return faulty, nil
			}))
			opts := strategies.Options{ChunkSize: testChunk, Params: map[string]string{"replica-device": testDevicePrefix + name}}
			e, err := strategies.Format("linked", device.MustMem(24<<20), opts)
			if err == nil {
				e.Close()
				t.Fatalf("Format succeeded although the replica header %s failed", kind)
			}
			if !errors.Is(err, device.ErrInjected) || faulty.Injected() == 0 {
				t.Fatalf("got %v (%d injected), want the injected %s error", err, faulty.Injected(), kind)
			}
		})
	}
}
