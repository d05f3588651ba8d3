package linked

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const testChunk = 64 << 10

// fixture: a linked engine on a memory device.
type fixture struct {
	t   *testing.T
	mem *device.Mem
	e   *Engine
}

func newFixture(t *testing.T, params map[string]string) *fixture {
	t.Helper()
	mem := device.MustMem(64 << 20)
	eng, err := strategies.Format("linked", mem, strategies.Options{ChunkSize: testChunk, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, mem: mem, e: eng.(*Engine)}
	t.Cleanup(func() { f.e.Close() })
	return f
}

func (f *fixture) check() {
	f.t.Helper()
	if err := f.e.Check(); err != nil {
		f.t.Fatalf("Check: %v", err)
	}
	s := f.e.Space()
	if s.Data+s.Metadata+s.Free != s.Capacity {
		f.t.Fatalf("space %+v", s)
	}
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.e.Flush(); err != nil {
		f.t.Fatal(err)
	}
	f.e.Close()
	f.mem = f.mem.Reopen()
	eng, err := strategies.Open(f.mem)
	if err != nil {
		f.t.Fatalf("reopen: %v", err)
	}
	f.e = eng.(*Engine)
}

func (f *fixture) create(name string, chunks int) strategies.VolumeID {
	f.t.Helper()
	id, err := f.e.Create(name, int64(chunks*testChunk))
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) must(id strategies.VolumeID, err error) strategies.VolumeID {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) write(id strategies.VolumeID, off int64, data []byte) {
	f.t.Helper()
	v, err := f.e.Open(id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.WriteAt(data, off); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(id strategies.VolumeID, off int64, n int) []byte {
	f.t.Helper()
	v, err := f.e.Open(id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer v.Close()
	buf := device.Alloc(n)
	if _, err := v.ReadAt(buf, off); err != nil {
		f.t.Fatal(err)
	}
	return buf
}

func (f *fixture) expect(id strategies.VolumeID, off int64, want []byte) {
	f.t.Helper()
	if got := f.read(id, off, len(want)); !bytes.Equal(got, want) {
		f.t.Fatalf("volume %d at %d: content differs", id, off)
	}
}

func fill(tag byte, n int) []byte {
	b := device.Alloc(n)
	for i := range b {
		b[i] = tag + byte(i>>9)
	}
	return b
}

func (f *fixture) internal(role uint8) []*volume {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	var out []*volume
	for _, id := range sortedKeys(f.e.vols) {
		if v := f.e.vols[id]; v.role == role {
			out = append(out, v)
		}
	}
	return out
}

func TestReplicaReuseAndRecompose(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("tmpl", 4)
	a := fill(1, 4*testChunk)
	f.write(base, 0, a)
	c1 := f.must(f.e.Clone(base, "c1"))
	c2 := f.must(f.e.Clone(base, "c2"))
	if n := f.e.Stats()["replicas_made"]; n != 1 {
		t.Fatalf("two clones of an unchanged base made %d replicas, want 1", n)
	}
	if r := f.internal(roleReplica); len(r) != 1 || r[0].d.children != 2 {
		t.Fatalf("want one replica with two clones, got %d", len(r))
	}
	// The base changes: the next clone must see the new content (a new replica).
	b := fill(9, testChunk)
	f.write(base, testChunk, b)
	c3 := f.must(f.e.Clone(base, "c3"))
	if n := f.e.Stats()["replicas_made"]; n != 2 {
		t.Fatalf("clone after a base write: %d replicas made, want 2", n)
	}
	want3 := append([]byte(nil), a...)
	copy(want3[testChunk:], b)
	f.expect(c1, 0, a)
	f.expect(c2, 0, a)
	f.expect(c3, 0, want3)
	f.check()
	// The template can go; the replicas stay while their clones live.
	if err := f.e.Delete(base); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	f.expect(c1, 0, a)
	f.expect(c3, 0, want3)
	if r := f.internal(roleReplica); len(r) != 2 {
		t.Fatalf("%d replicas after deleting the template, want 2", len(r))
	}
	for _, id := range []strategies.VolumeID{c1, c2} {
		if err := f.e.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.internal(roleReplica); len(r) != 1 {
		t.Fatalf("%d replicas after deleting the first replica's clones, want 1", len(r))
	}
	if err := f.e.Delete(c3); err != nil {
		t.Fatal(err)
	}
	if vs := f.e.Volumes(); len(vs) != 0 {
		t.Fatalf("volumes left: %+v", vs)
	}
	f.check()
	if s := f.e.Space(); s.Data != 0 {
		t.Fatalf("data left after deleting everything: %+v", s)
	}
}

func TestReplicaSurvivesReopenClean(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("tmpl", 2)
	f.write(base, 0, fill(3, 2*testChunk))
	f.must(f.e.Clone(base, "c1"))
	f.reopen()
	f.must(f.e.Clone(base, "c2"))
	if n := f.e.Stats()["replicas_made"]; n != 0 {
		t.Fatalf("clone after reopen of a clean base made %d replicas, want 0", n)
	}
	f.check()
}

func TestNoReplicaOption(t *testing.T) {
	f := newFixture(t, map[string]string{"replica": "false"})
	base := f.create("tmpl", 2)
	a := fill(5, 2*testChunk)
	f.write(base, 0, a)
	c := f.must(f.e.Clone(base, "c"))
	if len(f.internal(roleReplica)) != 0 || len(f.internal(roleLayer)) != 1 {
		t.Fatal("replica=false: want one shared layer and no replica")
	}
	f.expect(c, 0, a)
	if err := f.e.Delete(c); err != nil {
		t.Fatal(err)
	}
	// The layer had two children; with one left it is merged into the base.
	if len(f.internal(roleLayer)) != 0 || f.e.Stats()["merges"] != 1 {
		t.Fatalf("layers %d merges %d, want 0 and 1", len(f.internal(roleLayer)), f.e.Stats()["merges"])
	}
	f.expect(base, 0, a)
	f.check()
}

// TestDeleteMiddleSnapshotMerges: deleting a snapshot in the middle of a
// chain merges its delta into the delta above, copying only the grains the
// child lacks, and keeps every volume's content.
func TestDeleteMiddleSnapshotMerges(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 4)
	a := fill(1, 4*testChunk)
	f.write(base, 0, a)
	s1 := f.must(f.e.Snapshot(base, "s1"))
	f.write(base, 0, fill(2, 2*testChunk)) // delta of s2: grains 0 and 1
	s2 := f.must(f.e.Snapshot(base, "s2"))
	f.write(base, testChunk, fill(3, testChunk)) // the base's top has grain 1
	wantS2 := append([]byte(nil), a...)
	copy(wantS2, fill(2, 2*testChunk))
	wantBase := append([]byte(nil), wantS2...)
	copy(wantBase[testChunk:], fill(3, testChunk))
	before := f.e.Space()
	if err := f.e.Delete(s2); err != nil {
		t.Fatal(err)
	}
	st := f.e.Stats()
	if st["merges"] != 1 || st["merge_bytes"] != testChunk {
		t.Fatalf("merges %d merge_bytes %d, want 1 and %d (only the grain the child lacks)", st["merges"], st["merge_bytes"], testChunk)
	}
	after := f.e.Space()
	if after.Data != before.Data-testChunk {
		t.Fatalf("data %d -> %d: want one grain fewer (two freed, one copied)", before.Data, after.Data)
	}
	f.expect(base, 0, wantBase)
	f.expect(s1, 0, a)
	f.check()
	f.reopen()
	f.expect(base, 0, wantBase)
	f.expect(s1, 0, a)
	f.check()
}

func TestChainDepthAndMemory(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 2)
	a := fill(7, 2*testChunk)
	f.write(base, 0, a)
	for i := 0; i < 40; i++ {
		f.must(f.e.Snapshot(base, fmt.Sprintf("s%d", i)))
	}
	if d := f.e.Stats()["chain_depth_max"]; d != 41 {
		t.Fatalf("chain_depth_max %d, want 41", d)
	}
	f.expect(base, 0, a)
	if m := f.e.MemoryBytes(); m <= 0 || m > 4<<20 {
		t.Fatalf("MemoryBytes %d", m)
	}
	f.reopen()
	f.expect(base, 0, a)
	f.check()
}

// TestSharedLayer: deleting a snapshot with several children keeps its
// delta as an internal layer; it goes once no chain uses it.
func TestSharedLayer(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 2)
	a := fill(4, 2*testChunk)
	f.write(base, 0, a)
	s := f.must(f.e.Snapshot(base, "s"))
	c := f.must(f.e.Clone(s, "c"))
	if err := f.e.Delete(s); err != nil {
		t.Fatal(err)
	}
	if len(f.internal(roleLayer)) != 1 {
		t.Fatal("want the snapshot's delta kept as a layer")
	}
	f.expect(c, 0, a)
	f.expect(base, 0, a)
	if err := f.e.Delete(base); err != nil {
		t.Fatal(err)
	}
	if len(f.internal(roleLayer)) != 0 {
		t.Fatal("the layer with one child left should have been merged")
	}
	f.expect(c, 0, a)
	f.check()
}

func TestInternalVolumesRefused(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 1)
	f.must(f.e.Clone(base, "c"))
	r := f.internal(roleReplica)[0]
	if _, err := f.e.Open(r.id); !errors.Is(err, strategies.ErrInvalidArgument) {
		t.Fatalf("open replica: %v", err)
	}
	if err := f.e.Delete(r.id); !errors.Is(err, strategies.ErrInvalidArgument) {
		t.Fatalf("delete replica: %v", err)
	}
	if _, err := f.e.Clone(r.id, "x"); !errors.Is(err, strategies.ErrInvalidArgument) {
		t.Fatalf("clone replica: %v", err)
	}
	if _, err := f.e.CloneMany(base, []string{"d", "d"}); !errors.Is(err, strategies.ErrExists) {
		t.Fatalf("CloneMany with a repeated name: %v", err)
	}
}

// TestDeviceErrorsWrapped: injected device faults surface with errors.Is.
func TestDeviceErrorsWrapped(t *testing.T) {
	mem := device.MustMem(64 << 20)
	fd := device.NewFaulty(mem, nil)
	eng, err := strategies.Format("linked", fd, strategies.Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	base, _ := eng.Create("b", 2*testChunk)
	v, _ := eng.Open(base)
	defer v.Close()
	if _, err := v.WriteAt(device.Alloc(512), 0); err != nil { // map grain 0 so reads reach the device
		t.Fatal(err)
	}
	fd.SetInjector(device.FailFrom(0, nil))
	ops := map[string]error{}
	_, ops["write"] = v.WriteAt(device.Alloc(512), testChunk)
	_, ops["read"] = v.ReadAt(device.Alloc(512), 0)
	ops["flush"] = v.Flush()
	_, ops["snapshot"] = eng.Snapshot(base, "s")
	_, ops["clone"] = eng.Clone(base, "c")
	_, ops["create"] = eng.Create("x", testChunk)
	ops["check"] = eng.Check()
	for op, err := range ops {
		if !errors.Is(err, device.ErrInjected) {
			t.Errorf("%s: %v does not wrap the injected fault", op, err)
		}
	}
}

// TestCorruptionDetected: damaged catalogs and grain tables are ErrCorrupt.
func TestCorruptionDetected(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 2)
	f.write(base, 0, fill(1, testChunk))
	f.reopen()
	gt := f.e.geo.grainOff(f.e.vols[base].d.gd[0])
	f.e.Close()
	for name, off := range map[string]int64{"grain table": gt, "catalog": 0} {
		mem := f.mem.Reopen()
		area, _ := device.NewSub(mem, strategies.ReservedBytes, mem.Size()-strategies.ReservedBytes)
		buf := device.Alloc(512)
		area.ReadAt(buf, off)
		buf[40] ^= 0xff
		area.WriteAt(buf, off)
		if name == "catalog" { // both slots
			area.ReadAt(buf, slotSize)
			buf[40] ^= 0xff
			area.WriteAt(buf, slotSize)
		}
		if _, err := strategies.Open(mem); !errors.Is(err, strategies.ErrCorrupt) {
			t.Errorf("%s damaged: Open says %v, want ErrCorrupt", name, err)
		}
	}
}

// TestDeterministicIO: the same calls make the same device operations.
func TestDeterministicIO(t *testing.T) {
	run := func() device.Counters {
		cnt := device.NewCounting(device.MustMem(64 << 20))
		eng, err := strategies.Format("linked", cnt, strategies.Options{ChunkSize: testChunk})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		base, _ := eng.Create("b", 8*testChunk)
		v, _ := eng.Open(base)
		for i := 0; i < 8; i++ {
			v.WriteAt(fill(byte(i), 4096), int64(i)*testChunk+512)
		}
		v.Close()
		ids, _ := strategies.CloneMany(eng, base, []string{"c1", "c2", "c3"})
		s, _ := eng.Snapshot(ids[0], "s")
		cv, _ := eng.Open(ids[0])
		cv.WriteAt(fill(9, 8192), 0)
		cv.Close()
		eng.Delete(s)
		eng.Delete(base)
		eng.Flush()
		return cnt.Counters()
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("two identical runs: %v vs %v", a, b)
	}
}

// TestMergeWhileWriting deletes snapshots under a volume that is being
// written concurrently (run with -race).
func TestMergeWhileWriting(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 4)
	v, err := f.e.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	shadow := make([]byte, 4*testChunk)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := device.Alloc(4096)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			off := int64(i*4096*7) % int64(len(shadow))
			for j := range buf {
				buf[j] = byte(i)
			}
			if _, err := v.WriteAt(buf, off); err != nil {
				t.Error(err)
				return
			}
			copy(shadow[off:], buf)
		}
	}()
	for i := 0; i < 20; i++ {
		s := f.must(f.e.Snapshot(base, fmt.Sprintf("s%d", i)))
		if i%2 == 1 {
			if err := f.e.Delete(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	got := device.Alloc(len(shadow))
	if _, err := v.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, shadow) {
		t.Fatal("content differs from what was written")
	}
	f.check()
}

func TestAllocatorNextFit(t *testing.T) {
	a := newAllocator(130)
	for i := uint32(1); i <= 130; i++ {
		if g := a.alloc(false); g != i {
			t.Fatalf("alloc %d: got %d", i, g)
		}
	}
	if g := a.alloc(false); g != 0 {
		t.Fatalf("full pool gave %d", g)
	}
	a.free(5, false)
	a.free(129, false)
	if g := a.alloc(false); g != 5 { // cursor wrapped to 0
		t.Fatalf("got %d, want 5", g)
	}
	if g := a.alloc(false); g != 129 {
		t.Fatalf("got %d, want 129", g)
	}
}

func TestCatalogRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	base := f.create("b", 3)
	f.write(base, 0, fill(1, 512))
	f.must(f.e.Snapshot(base, "s"))
	f.must(f.e.Clone(base, "c"))
	cat := f.e.catalogLocked()
	if err := cat.validate(f.e.geo); err != nil {
		t.Fatal(err)
	}
	rec := encodeRoot(f.e.rootLocked())
	rt, err := decodeRoot(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeRoot(rt), rec) || len(rt.buckets) != 1 {
		t.Fatalf("root does not round-trip (%d buckets)", len(rt.buckets))
	}
	for i := 0; i < len(rec); i++ {
		if _, err := decodeRoot(rec[:i]); err == nil {
			t.Fatalf("truncated root of %d bytes decoded", i)
		}
	}
	b := encodeBucket(f.e.bucketLocked(0))
	es, err := decodeBucket(b, 0, f.e.geo)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeBucket(es), b) || len(es) != len(cat.vols) {
		t.Fatalf("bucket does not round-trip: %d entries", len(es))
	}
	for i := 0; i < len(b); i++ {
		if _, err := decodeBucket(b[:i], 0, f.e.geo); err == nil {
			t.Fatalf("truncated bucket of %d bytes decoded", i)
		}
	}
	if _, err := decodeBucket(b, 1, f.e.geo); err == nil {
		t.Fatal("bucket 0 decoded as bucket 1")
	}
}

// TestDecodeBucketRejects: table-driven damage to a bucket is refused.
func TestDecodeBucketRejects(t *testing.T) {
	geo, err := newGeometry(64<<20, 64<<10, 512)
	if err != nil {
		t.Fatal(err)
	}
	good := entry{v: volRec{id: 3, name: "v", kind: uint8(strategies.KindBase), size: 8 << 16, delta: 5},
		d: deltaRec{id: 5, nGrains: 8, gd: []uint32{9}}}
	for _, tc := range []struct {
		name string
		mod  func(es []entry) []entry
	}{
		{"volume outside the bucket", func(es []entry) []entry { es[0].v.id = 200; return es }},
		{"delta not the volume's", func(es []entry) []entry { es[0].v.delta = 6; return es }},
		{"directory of the wrong length", func(es []entry) []entry { es[0].d.gd = []uint32{0, 0}; return es }},
		{"volumes out of order", func(es []entry) []entry { return []entry{es[0], es[0]} }},
		{"no entries", func(es []entry) []entry { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			e.d.gd = slices.Clone(good.d.gd)
			b := encodeBucket(tc.mod([]entry{e}))
			if _, err := decodeBucket(b, 0, geo); err == nil {
				t.Fatal("decoded")
			}
		})
	}
	if _, err := decodeBucket(encodeBucket([]entry{good}), 0, geo); err != nil {
		t.Fatalf("good bucket: %v", err)
	}
}

func TestGTBlockRoundTrip(t *testing.T) {
	d := newDeltaTable(7, 300)
	d.set(0, 5)
	d.set(126, 99)
	d.set(130, 7|pendingBit) // pending: encoded as 0
	buf := device.Alloc(512)
	fillGTBlock(buf, d, 0)
	dst := make([]uint32, 127)
	if err := decodeGTBlock(buf, 7, 0, dst, 1000); err != nil || dst[0] != 5 || dst[126] != 99 {
		t.Fatalf("decode: %v %v", err, dst[:3])
	}
	if err := decodeGTBlock(buf, 8, 0, dst, 1000); err == nil {
		t.Fatal("block of another delta accepted")
	}
	if err := decodeGTBlock(buf, 7, 1, dst, 1000); err == nil {
		t.Fatal("block at another index accepted")
	}
	fillGTBlock(buf, d, 1)
	if err := decodeGTBlock(buf, 7, 1, dst, 1000); err != nil || dst[130-127] != 0 {
		t.Fatalf("pending entry: %v %d", err, dst[3])
	}
	if err := decodeGTBlock(make([]byte, 512), 7, 1, dst, 1000); !errors.Is(err, errEmptyBlock) {
		t.Fatalf("zero block: %v", err)
	}
}

// TestNoSpace: a full pool fails writes and clones with ErrNoSpace and
// leaves every volume and the metadata consistent.
func TestNoSpace(t *testing.T) {
	// 16 base grains, 16 replica grains, their tables, the catalog bucket
	// and the catalog reserve (8 grains) leave too little for a second
	// replica or 8 more grains.
	mem := device.MustMem(strategies.ReservedBytes + poolOff + 48*testChunk)
	eng, err := strategies.Format("linked", mem, strategies.Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	defer e.Close()
	base, err := e.Create("b", 16*testChunk)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := e.Open(base)
	a := fill(2, 16*testChunk)
	if _, err := v.WriteAt(a, 0); err != nil {
		t.Fatal(err)
	}
	v.Close()
	c1, err := e.Clone(base, "c1") // replica: 16 more grains
	if err != nil {
		t.Fatal(err)
	}
	v, _ = e.Open(base)
	if _, err := v.WriteAt(fill(3, 512), 0); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if _, err := e.Clone(base, "c2"); !errors.Is(err, strategies.ErrNoSpace) {
		t.Fatalf("clone needing a second replica in a full pool: %v", err)
	}
	cv, _ := e.Open(c1)
	_, err = cv.WriteAt(fill(4, 8*testChunk), 0)
	cv.Close()
	if !errors.Is(err, strategies.ErrNoSpace) {
		t.Fatalf("write into a full pool: %v", err)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(base); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}
