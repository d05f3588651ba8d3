package cow

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// TestFanoutCost checks the mechanism's cost exactly: a first write to a base
// chunk with N dependents costs one chunk read, N chunk copies, N table-block
// writes, two flushes and the write; a rewrite costs the write alone.
func TestFanoutCost(t *testing.T) {
	for _, n := range []int{1, 7} {
		cnt := device.NewCounting(device.MustMem(64 << 20))
		e := newTestEngine(t, cnt, testOpts("100", 0))
		base := mustCreate(t, e, "base", 4)
		for i := 0; i < n; i++ {
			mustSnap(t, e, base, fmt.Sprintf("s%d", i), i%2 == 1)
		}
		v := mustOpen(t, e, base)
		p := fill(1, 4096)
		before := cnt.Counters()
		mustWrite(t, v, 8192, p)
		d := cnt.Counters().Sub(before)
		want := device.Counters{Reads: 1, ReadBytes: testChunk, Writes: int64(2*n + 1),
			WriteBytes: int64(n)*(testChunk+blockSize) + 4096, Flushes: 2}
		if d != want {
			t.Fatalf("N=%d first write: %v, want %v", n, d, want)
		}
		before = cnt.Counters()
		mustWrite(t, v, 4096, p)
		if d := cnt.Counters().Sub(before); d != (device.Counters{Writes: 1, WriteBytes: 4096}) {
			t.Fatalf("N=%d rewrite of a copied chunk: %v", n, d)
		}
		st := e.Stats()
		if st["cow_copies"] != int64(n) || st["cow_copy_bytes"] != int64(n)*testChunk || st["exception_commits"] != int64(n) {
			t.Fatalf("stats %v", st)
		}
		v.Close()
		mustCheck(t, e)
		e.Close()
	}
}

// TestInvalidation: a full delta invalidates its snapshot or clone durably;
// the base and other volumes are unaffected.
func TestInvalidation(t *testing.T) {
	mem := device.MustMem(64 << 20)
	e := newTestEngine(t, mem, testOpts("1", 1)) // one-chunk deltas
	base := mustCreate(t, e, "base", 8)
	v := mustOpen(t, e, base)
	a := fill(1, 8*testChunk)
	mustWrite(t, v, 0, a)
	freeBefore := e.Space().Free
	s := mustSnap(t, e, base, "s", false)
	c := mustSnap(t, e, base, "c", true)
	free0 := e.Space().Free
	perDelta := (freeBefore - free0) / 2
	mustWrite(t, v, 0, fill(2, 4096)) // both deltas take chunk 0: now full
	mustWrite(t, v, testChunk, fill(3, 4096))
	cur := append([]byte(nil), a...)
	copy(cur, fill(2, 4096))
	copy(cur[testChunk:], fill(3, 4096))
	expect(t, v, 0, cur)
	for _, id := range []strategies.VolumeID{s, c} {
		h := mustOpen(t, e, id)
		if _, err := h.ReadAt(device.Alloc(512), 0); !errors.Is(err, strategies.ErrInvalidated) {
			t.Fatalf("read of invalidated %d: %v", id, err)
		}
		if err := h.Flush(); !errors.Is(err, strategies.ErrInvalidated) {
			t.Fatalf("flush of invalidated %d: %v", id, err)
		}
		h.Close()
	}
	for _, vi := range e.Volumes() {
		if vi.Valid == (vi.ID != base) {
			t.Fatalf("after overflow: %+v", vi)
		}
	}
	if sp := e.Space(); sp.Invalidated != 2 || sp.Free != free0 {
		t.Fatalf("space %+v (free before %d)", sp, free0)
	}
	mustCheck(t, e)
	v.Close()
	e.Flush()
	e.Close()
	e = reopenEngine(t, mem.Reopen())
	if sp := e.Space(); sp.Invalidated != 2 {
		t.Fatalf("after reopen: %+v", sp)
	}
	mustCheck(t, e)
	// A new snapshot is valid; deleting the invalid ones frees their deltas.
	s2 := mustSnap(t, e, base, "s2", false)
	expect(t, mustOpen(t, e, s2), 0, cur)
	for _, id := range []strategies.VolumeID{s, c} {
		if err := e.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if sp := e.Space(); sp.Free != freeBefore-perDelta {
		t.Fatalf("free %d after deleting, want %d", sp.Free, freeBefore-perDelta)
	}
	mustCheck(t, e)
}

// TestCloneOverflow: a clone write needing a slot in a full delta
// invalidates the clone and fails with ErrInvalidated.
func TestCloneOverflow(t *testing.T) {
	e := newTestEngine(t, device.MustMem(64<<20), testOpts("1", 2))
	base := mustCreate(t, e, "base", 8)
	c := mustOpen(t, e, mustSnap(t, e, base, "c", true))
	mustWrite(t, c, 0, fill(1, 512))
	mustWrite(t, c, testChunk+512, fill(2, 512))
	mustWrite(t, c, 1024, fill(3, 512)) // an owned chunk: no new slot
	if _, err := c.WriteAt(fill(4, 512), 5*testChunk); !errors.Is(err, strategies.ErrInvalidated) {
		t.Fatalf("third chunk: %v", err)
	}
	if _, err := c.WriteAt(fill(4, 512), 0); !errors.Is(err, strategies.ErrInvalidated) {
		t.Fatalf("write after invalidation: %v", err)
	}
	expect(t, mustOpen(t, e, base), 0, make([]byte, 8*testChunk))
	if e.Space().Invalidated != 1 || e.Stats()["invalidations"] != 1 {
		t.Fatalf("space %+v stats %v", e.Space(), e.Stats())
	}
	mustCheck(t, e)
}

// TestLazyCloneExceptionBeforeBaseWrite: a clone's unflushed exception for a
// chunk is committed before the base overwrites that chunk, so after a crash
// the clone never shows the base's new content.
func TestLazyCloneExceptionBeforeBaseWrite(t *testing.T) {
	mem := device.MustMem(64 << 20)
	e := newTestEngine(t, mem, testOpts("100", 0))
	base := mustCreate(t, e, "base", 2)
	v := mustOpen(t, e, base)
	a := fill(1, 2*testChunk)
	mustWrite(t, v, 0, a)
	cid := mustSnap(t, e, base, "c", true)
	c := mustOpen(t, e, cid)
	x := fill(9, 512)
	mustWrite(t, c, 512, x) // recorded in memory only
	mustWrite(t, v, 0, fill(5, testChunk))
	for _, keep := range []float64{0, 1} {
		e2 := reopenEngine(t, mem.CrashClone(rand.New(rand.NewPCG(1, 1)), keep))
		mustCheck(t, e2)
		c2 := mustOpen(t, e2, cid)
		got := device.Alloc(testChunk)
		if _, err := c2.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), a[:testChunk]...)
		copy(want[512:], x) // the copy-out committed the clone's write too
		if !bytes.Equal(got, want) {
			t.Fatalf("keep %v: clone chunk 0 is not its own content after the crash", keep)
		}
		e2.Close()
	}
}

// crashScenario builds a base with snapshots and a clone holding an
// unflushed exception, then returns the base write to crash in.
type crashScenario struct {
	mem          *device.Mem
	faulty       *device.Faulty
	e            *Engine
	base         strategies.VolumeID
	snaps        []strategies.VolumeID
	clone        strategies.VolumeID
	old, x, newp []byte
	off          int64
}

func newCrashScenario(t *testing.T, chunkSize int, pct string) *crashScenario {
	s := &crashScenario{mem: device.MustMem(64 << 20)}
	s.faulty = device.NewFaulty(s.mem, nil)
	opts := strategies.Options{ChunkSize: chunkSize, Params: map[string]string{"delta-percent": pct, "delta-min": "0"}}
	eng, err := strategies.Format("cow", s.faulty, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.e = eng.(*Engine)
	cs := int64(chunkSize)
	s.base, err = s.e.Create("base", 4*cs)
	if err != nil {
		t.Fatal(err)
	}
	v := mustOpen(t, s.e, s.base)
	s.old = fill(1, int(4*cs))
	mustWrite(t, v, 0, s.old)
	for i := 0; i < 3; i++ {
		s.snaps = append(s.snaps, mustSnap(t, s.e, s.base, fmt.Sprintf("s%d", i), false))
	}
	s.clone = mustSnap(t, s.e, s.base, "c", true)
	s.x = fill(7, 512)
	mustWrite(t, mustOpen(t, s.e, s.clone), cs+1024, s.x) // lazy exception for chunk 1
	s.off, s.newp = cs-1024, fill(3, int(cs)+2048)        // straddles chunks 0 and 1
	return s
}

// TestCrashDuringFanout crashes at every device operation of a base write
// that copies two chunks into three snapshots and commits a clone's pending
// exception, and checks every volume after reopening.
func TestCrashDuringFanout(t *testing.T) {
	for _, chunkSize := range []int{4096, testChunk} {
		probe := newCrashScenario(t, chunkSize, "100")
		start := probe.faulty.Ops()
		mustWrite(t, mustOpen(t, probe.e, probe.base), probe.off, probe.newp)
		total := probe.faulty.Ops() - start
		if total < 10 {
			t.Fatalf("only %d device operations in a fan-out write", total)
		}
		for at := uint64(0); at <= total; at++ {
			for _, keep := range []float64{0, 0.5, 1} {
				s := newCrashScenario(t, chunkSize, "100")
				s.faulty.SetInjector(device.FailFrom(s.faulty.Ops()+at, nil))
				_, err := mustOpen(t, s.e, s.base).WriteAt(s.newp, s.off)
				if at < total && !errors.Is(err, device.ErrInjected) {
					t.Fatalf("crash at op %d/%d: write returned %v", at, total, err)
				}
				e := reopenEngine(t, s.mem.CrashClone(rand.New(rand.NewPCG(at, 3)), keep))
				if err := e.Check(); err != nil {
					t.Fatalf("crash at op %d/%d keep %v: %v", at, total, keep, err)
				}
				s.verify(t, e, at, keep)
				e.Close()
			}
		}
	}
}

func (s *crashScenario) verify(t *testing.T, e *Engine, at uint64, keep float64) {
	t.Helper()
	n := len(s.old)
	read := func(id strategies.VolumeID) []byte {
		h := mustOpen(t, e, id)
		defer h.Close()
		b := device.Alloc(n)
		if _, err := h.ReadAt(b, 0); err != nil {
			t.Fatalf("crash at op %d keep %v: read %d: %v", at, keep, id, err)
		}
		return b
	}
	for _, id := range s.snaps {
		if !bytes.Equal(read(id), s.old) {
			t.Fatalf("crash at op %d keep %v: snapshot %d lost its point-in-time content", at, keep, id)
		}
	}
	cs := n / 4
	got := read(s.clone)
	want := append([]byte(nil), s.old...)
	for i := 0; i < n; i += 512 {
		ok := bytes.Equal(got[i:i+512], want[i:i+512]) || (i == cs+1024 && bytes.Equal(got[i:i+512], s.x))
		if !ok {
			t.Fatalf("crash at op %d keep %v: clone sector at %d is neither old nor its own write", at, keep, i)
		}
	}
	b := read(s.base)
	for i := 0; i < n; i += 512 {
		old := bytes.Equal(b[i:i+512], s.old[i:i+512])
		nw := int64(i) >= s.off && int64(i) < s.off+int64(len(s.newp)) && bytes.Equal(b[i:i+512], s.newp[int64(i)-s.off:int64(i)-s.off+512])
		if !old && !nw {
			t.Fatalf("crash at op %d keep %v: base sector at %d is neither old nor new", at, keep, i)
		}
	}
}

// TestMultiBlockTable drives a delta's exception table across several
// blocks (4 KiB chunks, 1200 exceptions, commits of many entries at once)
// and through reopen, then crashes at every op of a commit that crosses a
// block boundary.
func TestMultiBlockTable(t *testing.T) {
	const chunks = 1200
	cs := 4096
	opts := strategies.Options{ChunkSize: cs, Params: map[string]string{"delta-percent": "100", "delta-min": "0"}}
	mem := device.MustMem(64 << 20)
	eng, err := strategies.Format("cow", mem, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	base, _ := e.Create("base", chunks*int64(cs))
	v := mustOpen(t, e, base)
	old := fill(1, chunks*cs)
	mustWrite(t, v, 0, old)
	sid := mustSnap(t, e, base, "s", false)
	// Writes of 3, 1, 100... chunks: entry counts that cross block boundaries.
	pos := 0
	for i := 0; pos < chunks-200; i++ {
		n := []int{3, 1, 100, 7, 250}[i%5]
		mustWrite(t, v, int64(pos*cs), fill(byte(i), n*cs))
		pos += n
	}
	expect(t, mustOpen(t, e, sid), 0, old)
	mustCheck(t, e)
	e.Close()
	e = reopenEngine(t, mem.Reopen())
	mustCheck(t, e)
	expect(t, mustOpen(t, e, sid), 0, old)
	e.Close()

	// Crash at every op of a commit crossing block 1 -> 2 (entry 1010): a
	// fresh delta with 1008 exceptions, then a 10-chunk write.
	mem = device.MustMem(64 << 20)
	eng, err = strategies.Format("cow", mem, opts)
	if err != nil {
		t.Fatal(err)
	}
	e = eng.(*Engine)
	base, _ = e.Create("base", chunks*int64(cs))
	v = mustOpen(t, e, base)
	mustWrite(t, v, 0, old)
	sid = mustSnap(t, e, base, "s", false)
	for p := 0; p < 1008; p += 112 {
		mustWrite(t, v, int64(p*cs), fill(9, 112*cs))
	}
	v.Close()
	e.Close()
	snap := mem.Reopen()
	var total uint64
	for at := uint64(0); total == 0 || at < total; at++ {
		m := snap.Reopen()
		f := device.NewFaulty(m, nil)
		e := reopenEngine(t, f)
		start := f.Ops()
		if total > 0 {
			f.SetInjector(device.FailFrom(start+at, nil))
		}
		h := mustOpen(t, e, base)
		_, err := h.WriteAt(fill(10, 10*cs), 1008*int64(cs))
		if total == 0 {
			if err != nil {
				t.Fatal(err)
			}
			total = f.Ops() - start
			at--
			continue
		}
		e2 := reopenEngine(t, m.CrashClone(rand.New(rand.NewPCG(at, 9)), 0.5))
		if err := e2.Check(); err != nil {
			t.Fatalf("crash at op %d of %d: %v", at, total, err)
		}
		expect(t, mustOpen(t, e2, sid), 0, old)
		e2.Close()
	}
}

// TestConcurrentCopyOut: base writers, clone writers and snapshot readers at
// once. Snapshot content must never change; clones read back their writes.
func TestConcurrentCopyOut(t *testing.T) {
	e := newTestEngine(t, device.MustMem(96<<20), testOpts("100", 0))
	const chunks = 16
	base := mustCreate(t, e, "base", chunks)
	bv := mustOpen(t, e, base)
	old := fill(1, chunks*testChunk)
	mustWrite(t, bv, 0, old)
	var snaps, clones []strategies.VolumeID
	for i := 0; i < 4; i++ {
		snaps = append(snaps, mustSnap(t, e, base, fmt.Sprintf("s%d", i), false))
		clones = append(clones, mustSnap(t, e, base, fmt.Sprintf("c%d", i), true))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 3; w++ { // base writers, overlapping chunks
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < 60; i++ {
				n := 512 * (1 + rng.IntN(300))
				off := int64(rng.IntN((chunks*testChunk-n)/512)) * 512
				if _, err := bv.WriteAt(fill(byte(w), n), off); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	for _, id := range snaps {
		wg.Add(1)
		go func(id strategies.VolumeID) {
			defer wg.Done()
			h, _ := e.Open(id)
			defer h.Close()
			buf := device.Alloc(chunks * testChunk)
			for i := 0; i < 8; i++ {
				if _, err := h.ReadAt(buf, 0); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf, old) {
					errs <- fmt.Errorf("snapshot %d changed while the base was written", id)
					return
				}
			}
		}(id)
	}
	for ci, id := range clones {
		wg.Add(1)
		go func(ci int, id strategies.VolumeID) {
			defer wg.Done()
			h, _ := e.Open(id)
			defer h.Close()
			rng := rand.New(rand.NewPCG(uint64(ci), 2))
			shadow := append([]byte(nil), old...)
			buf := device.Alloc(2 * testChunk)
			for i := 0; i < 60; i++ {
				n := 512 * (1 + rng.IntN(200))
				off := rng.IntN((chunks*testChunk-n)/512) * 512
				if rng.IntN(2) == 0 {
					p := fill(byte(100+i), n)
					if _, err := h.WriteAt(p, int64(off)); err != nil {
						errs <- err
						return
					}
					copy(shadow[off:], p)
				} else {
					if _, err := h.ReadAt(buf[:n], int64(off)); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(buf[:n], shadow[off:off+n]) {
						errs <- fmt.Errorf("clone %d read at %d differs from its writes", id, off)
						return
					}
				}
				if i%20 == 0 {
					if err := h.Flush(); err != nil {
						errs <- err
						return
					}
				}
			}
		}(ci, id)
	}
	wg.Add(1)
	go func() { // engine flushes and listings meanwhile
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if err := e.Flush(); err != nil {
				errs <- err
				return
			}
			e.Volumes()
			e.Space()
			e.MemoryBytes()
			e.Stats()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	bv.Close()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, e)
}

// TestDeterministicIO: the same calls make the same device operations.
func TestDeterministicIO(t *testing.T) {
	run := func() device.Counters {
		cnt := device.NewCounting(device.MustMem(64 << 20))
		e := newTestEngine(t, cnt, testOpts("50", 0))
		base := mustCreate(t, e, "base", 8)
		v := mustOpen(t, e, base)
		rng := rand.New(rand.NewPCG(5, 5))
		var deps []strategies.Volume
		for i := 0; i < 200; i++ {
			switch r := rng.IntN(10); {
			case r == 0 && len(deps) < 6:
				deps = append(deps, mustOpen(t, e, mustSnap(t, e, base, fmt.Sprintf("d%d", i), i%2 == 0)))
			case r < 6:
				v.WriteAt(fill(byte(i), 512*(1+rng.IntN(200))), int64(rng.IntN(500))*512)
			case r < 8 && len(deps) > 0:
				deps[rng.IntN(len(deps))].WriteAt(fill(byte(i), 4096), int64(rng.IntN(100))*4096)
			case r < 9 && len(deps) > 0:
				deps[rng.IntN(len(deps))].ReadAt(device.Alloc(8192), int64(rng.IntN(60))*8192)
			default:
				e.Flush()
			}
		}
		return cnt.Counters()
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("two identical runs: %v and %v", a, b)
	}
}

// TestMemoryBounded: memory grows with exceptions, not with base size.
func TestMemoryBounded(t *testing.T) {
	e := newTestEngine(t, device.MustMem(512<<20), testOpts("10", 0))
	base := mustCreate(t, e, "base", 2048) // 128 MiB
	m0 := e.MemoryBytes()
	for i := 0; i < 10; i++ {
		mustSnap(t, e, base, fmt.Sprintf("s%d", i), false)
	}
	m1 := e.MemoryBytes()
	if per := (m1 - m0) / 10; per > 2048 {
		t.Fatalf("%d bytes per empty snapshot of a 2048-chunk base", per)
	}
	v := mustOpen(t, e, base)
	for c := 0; c < 100; c++ {
		mustWrite(t, v, int64(c)*testChunk, fill(1, 512))
	}
	m2 := e.MemoryBytes()
	if per := (m2 - m1) / 1000; per > 40 {
		t.Fatalf("%d bytes per exception", per)
	}
	mustCheck(t, e)
}

// TestDeleteWhileOpenAndChildren covers ErrBusy, ErrHasChildren and the
// immediate release of a delta.
func TestDeleteRules(t *testing.T) {
	e := newTestEngine(t, device.MustMem(64<<20), testOpts("20", 0))
	base := mustCreate(t, e, "base", 10)
	s := mustSnap(t, e, base, "s", false)
	if err := e.Delete(base); !errors.Is(err, strategies.ErrHasChildren) {
		t.Fatalf("delete base with a snapshot: %v", err)
	}
	h := mustOpen(t, e, s)
	if err := e.Delete(s); !errors.Is(err, strategies.ErrBusy) {
		t.Fatalf("delete open snapshot: %v", err)
	}
	h.Close()
	before := e.Space()
	if err := e.Delete(s); err != nil {
		t.Fatal(err)
	}
	after := e.Space()
	if after.Free-before.Free != 2*testChunk+tableBytes(2) {
		t.Fatalf("deleting a 2-chunk delta freed %d bytes", after.Free-before.Free)
	}
	if err := e.Delete(base); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Snapshot(base, "x"); !errors.Is(err, strategies.ErrNotFound) {
		t.Fatalf("snapshot of a deleted base: %v", err)
	}
	mustCheck(t, e)
}
