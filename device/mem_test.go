package device

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestNewMemBadSize(t *testing.T) {
	cases := []struct {
		size int64
		opts MemOptions
	}{
		{0, MemOptions{}},
		{-512, MemOptions{}},
		{1000, MemOptions{}},
		{4096 + 512, MemOptions{SectorSize: 4096}},
		{1 << 20, MemOptions{SectorSize: 256}},
		{1 << 20, MemOptions{SectorSize: 3072}},
		{1 << 20, MemOptions{SectorSize: 128 << 10}},
	}
	for _, c := range cases {
		_, err := NewMem(c.size, c.opts)
		wantErr(t, fmt.Sprintf("NewMem(%d, %+v)", c.size, c.opts), err, ErrBadSize)
	}
}

func TestMemReadWrite(t *testing.T) {
	for _, sec := range []int{512, 4096} {
		t.Run(fmt.Sprint(sec), func(t *testing.T) {
			m, err := NewMem(4<<20, MemOptions{SectorSize: sec})
			if err != nil {
				t.Fatal(err)
			}
			if m.SectorSize() != sec || m.Size() != 4<<20 {
				t.Fatalf("geometry %d/%d", m.SectorSize(), m.Size())
			}
			if got := mustRead(t, m, 0, 4<<20); !allZero(got) {
				t.Fatalf("a new device does not read as zeros")
			}
			if m.AllocatedBytes() != 0 {
				t.Errorf("reading allocated %d bytes", m.AllocatedBytes())
			}
			writes := []struct {
				off int64
				n   int
			}{
				{0, sec},
				{64<<10 - int64(sec), 2 * sec}, // straddles a page
				{1 << 20, 256 << 10},           // several pages
				{4<<20 - int64(sec), sec},      // last sector
			}
			for i, w := range writes {
				data := stamp(w.n, sec, uint64(i+1)<<32)
				mustWrite(t, m, data, w.off)
				if got := mustRead(t, m, w.off, w.n); !bytes.Equal(got, data) {
					t.Errorf("write %d: read back differs", i)
				}
			}
			// Sectors between the writes still read as zeros.
			for _, off := range []int64{int64(sec), 512 << 10, 2 << 20} {
				if got := mustRead(t, m, off, sec); !allZero(got) {
					t.Errorf("unwritten sector at %d is not zero", off)
				}
			}
		})
	}
}

func TestMemIOErrors(t *testing.T) {
	m := MustMem(1 << 20)
	buf := Alloc(8192)
	cases := []struct {
		name string
		p    []byte
		off  int64
		want error
	}{
		{"unaligned offset", buf[:512], 256, ErrUnaligned},
		{"unaligned length", buf[:700], 0, ErrUnaligned},
		{"unaligned buffer", buf[8 : 8+512], 0, ErrUnaligned},
		{"past end", buf[:1024], 1<<20 - 512, ErrOutOfRange},
		{"overflow", buf[:1024], math.MaxInt64 / 512 * 512, ErrOutOfRange},
	}
	for _, c := range cases {
		_, err := m.ReadAt(c.p, c.off)
		wantErr(t, c.name+" read", err, c.want)
		_, err = m.WriteAt(c.p, c.off)
		wantErr(t, c.name+" write", err, c.want)
	}
	if m.Unflushed() != 0 || m.AllocatedBytes() != 0 {
		t.Errorf("failed writes left traces: %d unflushed, %d bytes", m.Unflushed(), m.AllocatedBytes())
	}
	// MemAlign 1 lifts the buffer check.
	loose, _ := NewMem(1<<20, MemOptions{MemAlign: 1})
	mustWrite(t, loose, buf[8:8+512], 0)
}

func TestMemClosed(t *testing.T) {
	m := MustMem(1 << 20)
	mustWrite(t, m, stamp(512, 512, 7), 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := m.ReadAt(Alloc(512), 0)
	wantErr(t, "ReadAt", err, ErrClosed)
	_, err = m.WriteAt(Alloc(512), 0)
	wantErr(t, "WriteAt", err, ErrClosed)
	wantErr(t, "Flush", m.Flush(), ErrClosed)
	wantErr(t, "Discard", m.Discard(0, 512), ErrClosed)
	// Content stays reachable.
	if got := mustRead(t, m.Reopen(), 0, 512); !bytes.Equal(got, stamp(512, 512, 7)) {
		t.Errorf("Reopen after Close lost the content")
	}
}

func TestMemReopen(t *testing.T) {
	m := MustMem(1 << 20)
	flushed, unflushed := stamp(64<<10, 512, 1<<32), stamp(4096, 512, 2<<32)
	mustWrite(t, m, flushed, 0)
	m.Flush()
	mustWrite(t, m, unflushed, 512<<10)
	r := m.Reopen()
	if !bytes.Equal(mustRead(t, r, 0, 64<<10), flushed) || !bytes.Equal(mustRead(t, r, 512<<10, 4096), unflushed) {
		t.Fatalf("Reopen does not hold the current content")
	}
	if r.Unflushed() != 0 {
		t.Errorf("a clean reopen has %d unflushed writes", r.Unflushed())
	}
	// The two devices are independent.
	mustWrite(t, r, stamp(512, 512, 3<<32), 0)
	if !bytes.Equal(mustRead(t, m, 0, 512), flushed[:512]) {
		t.Errorf("a write to the reopened device changed the original")
	}
	// Its crash model starts from its own content.
	if c := r.CrashClone(nil, 0); !bytes.Equal(mustRead(t, c, 512<<10, 4096), unflushed) {
		t.Errorf("after Reopen the old unflushed write is still undoable")
	}
}

// tags returns the stamp tag of every sector of d.
func tags(t *testing.T, d Device) []uint64 {
	t.Helper()
	all := mustRead(t, d, 0, int(d.Size()))
	sec := d.SectorSize()
	out := make([]uint64, len(all)/sec)
	for i := range out {
		v, ok := sectorTag(all[i*sec : (i+1)*sec])
		if !ok {
			t.Fatalf("sector %d is torn", i)
		}
		out[i] = v
	}
	return out
}

// crashModel tracks, per sector, its durable tag and every tag written to it
// since the last flush.
type crashModel struct {
	durable, current []uint64
	pending          []map[uint64]bool
}

func newCrashModel(sectors int) *crashModel {
	m := &crashModel{durable: make([]uint64, sectors), current: make([]uint64, sectors), pending: make([]map[uint64]bool, sectors)}
	return m
}

func (c *crashModel) write(s int, tag uint64) {
	c.current[s] = tag
	if c.pending[s] == nil {
		c.pending[s] = map[uint64]bool{}
	}
	c.pending[s][tag] = true
}

func (c *crashModel) flush() {
	copy(c.durable, c.current)
	clear(c.pending)
}

// randomWorkload drives m and a model with seeded writes, discards and
// flushes, ending with unflushed writes outstanding.
func randomWorkload(t *testing.T, m *Mem, seed uint64) *crashModel {
	rng := rand.New(rand.NewPCG(seed, 1))
	sec := m.SectorSize()
	sectors := int(m.Size()) / sec
	model := newCrashModel(sectors)
	tag := seed << 32
	for op := 0; op < 300; op++ {
		s := rng.IntN(sectors)
		n := 1 + rng.IntN(min(16, sectors-s))
		switch r := rng.IntN(20); {
		case r == 0:
			m.Flush()
			model.flush()
		case r < 3:
			if err := m.Discard(int64(s*sec), int64(n*sec)); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				model.write(s+i, 0)
			}
		default:
			tag += 1000
			mustWrite(t, m, stamp(n*sec, sec, tag), int64(s*sec))
			for i := range n {
				model.write(s+i, tag+uint64(i))
			}
		}
	}
	return model
}

func TestMemCrashClone(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		m := MustMem(128 << 10) // 256 sectors over 2 pages
		model := randomWorkload(t, m, seed)
		for _, keep := range []float64{0, 0.3, 0.7, 1} {
			c := m.CrashClone(rand.New(rand.NewPCG(seed, 2)), keep)
			for s, got := range tags(t, c) {
				var ok bool
				switch {
				case keep == 0:
					ok = got == model.durable[s]
				case keep == 1:
					ok = got == model.current[s]
				default:
					ok = got == model.durable[s] || model.pending[s][got]
				}
				if !ok {
					t.Fatalf("seed %d keep %v: sector %d holds %#x; durable %#x, current %#x, unflushed %v",
						seed, keep, s, got, model.durable[s], model.current[s], model.pending[s])
				}
			}
		}
		// CrashClone does not change the device.
		if !equalTags(tags(t, m), model.current) {
			t.Fatalf("seed %d: CrashClone changed the device", seed)
		}
	}
}

func equalTags(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMemCrashKeepFraction: with 0 < keep < 1 a crash keeps some unflushed
// sector writes and drops others, in proportion, and tears multi-sector
// writes. The generator is seeded, so the counts are fixed.
func TestMemCrashKeepFraction(t *testing.T) {
	const sectors = 10000
	m := MustMem(sectors * 512)
	base := stamp(sectors*512, 512, 1<<32)
	mustWrite(t, m, base, 0)
	m.Flush()
	for s := range sectors {
		mustWrite(t, m, stamp(512, 512, 2<<32+uint64(s)), int64(s)*512)
	}
	if m.Unflushed() != sectors {
		t.Fatalf("Unflushed = %d, want %d", m.Unflushed(), sectors)
	}
	for _, keep := range []float64{0.1, 0.5, 0.9} {
		c := m.CrashClone(rand.New(rand.NewPCG(42, uint64(keep*10))), keep)
		kept := 0
		for s, tag := range tags(t, c) {
			switch tag {
			case 2<<32 + uint64(s):
				kept++
			case 1<<32 + uint64(s):
			default:
				t.Fatalf("keep %v: sector %d holds %#x, neither old nor new", keep, s, tag)
			}
		}
		if lo, hi := int((keep-0.05)*sectors), int((keep+0.05)*sectors); kept < lo || kept > hi {
			t.Errorf("keep %v: %d of %d writes survived, want %d..%d", keep, kept, sectors, lo, hi)
		}
	}

	// One large unflushed write is torn: some sectors new, some old.
	m.Flush()
	mustWrite(t, m, stamp(256*512, 512, 3<<32), 0)
	c := m.CrashClone(rand.New(rand.NewPCG(7, 7)), 0.5)
	newSectors := 0
	for s, tag := range tags(t, c)[:256] {
		if tag == 3<<32+uint64(s) {
			newSectors++
		}
	}
	if newSectors == 0 || newSectors == 256 {
		t.Errorf("a 256-sector unflushed write survived a keep=0.5 crash with %d new sectors; want it torn", newSectors)
	}

	// The same seed gives the same crash.
	a := m.CrashClone(rand.New(rand.NewPCG(9, 9)), 0.5)
	b := m.CrashClone(rand.New(rand.NewPCG(9, 9)), 0.5)
	if !equalTags(tags(t, a), tags(t, b)) {
		t.Errorf("CrashClone with the same seed differs")
	}
}

func TestMemDiscard(t *testing.T) {
	m := MustMem(1 << 20)
	data := stamp(256<<10, 512, 1<<32)
	mustWrite(t, m, data, 0)
	m.Flush()
	allocated := m.AllocatedBytes()

	// Discard a partial page and two whole pages.
	if err := m.Discard(32<<10, 160<<10); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, m, 0, 256<<10)
	if !allZero(got[32<<10:192<<10]) || !bytes.Equal(got[:32<<10], data[:32<<10]) || !bytes.Equal(got[192<<10:], data[192<<10:]) {
		t.Fatalf("Discard did not zero exactly its range")
	}
	if m.AllocatedBytes() >= allocated {
		t.Errorf("discarding whole pages freed nothing (%d bytes before, %d after)", allocated, m.AllocatedBytes())
	}
	if m.Unflushed() != 1 {
		t.Errorf("Unflushed = %d after a discard, want 1", m.Unflushed())
	}

	// Crash-modelled like a write.
	if c := m.CrashClone(nil, 0); !bytes.Equal(mustRead(t, c, 0, 256<<10), data) {
		t.Errorf("an unflushed discard survived a keep=0 crash")
	}
	if c := m.CrashClone(nil, 1); !bytes.Equal(mustRead(t, c, 0, 256<<10), got) {
		t.Errorf("a keep=1 crash lost the discard")
	}
	c := m.CrashClone(rand.New(rand.NewPCG(3, 3)), 0.5)
	zeroed, kept := 0, 0
	old := mustRead(t, c, 32<<10, 160<<10)
	for s := 0; s < len(old); s += 512 {
		switch {
		case allZero(old[s : s+512]):
			zeroed++
		case bytes.Equal(old[s:s+512], data[32<<10+s:32<<10+s+512]):
			kept++
		default:
			t.Fatalf("sector %d after a crash is neither old nor discarded", s/512)
		}
	}
	if zeroed == 0 || kept == 0 {
		t.Errorf("keep=0.5 crash of a 320-sector discard: %d sectors zeroed, %d old; want both", zeroed, kept)
	}
	m.Flush()
	if c := m.CrashClone(nil, 0); !allZero(mustRead(t, c, 32<<10, 160<<10)) {
		t.Errorf("a flushed discard did not survive a crash")
	}

	// A discard of never-written space costs nothing.
	before := m.AllocatedBytes()
	if err := m.Discard(512<<10, 512<<10); err != nil {
		t.Fatal(err)
	}
	if m.AllocatedBytes() != before {
		t.Errorf("discarding unwritten space allocated %d bytes", m.AllocatedBytes()-before)
	}
	wantErr(t, "unaligned Discard", m.Discard(100, 512), ErrUnaligned)
	wantErr(t, "Discard past end", m.Discard(1<<20-512, 1024), ErrOutOfRange)
}

// TestMemConcurrent runs writers, readers, flushes and crash clones at once;
// run it with -race.
func TestMemConcurrent(t *testing.T) {
	const workers, rounds, perWorker = 6, 200, 32 // sectors owned per worker
	m := MustMem(workers * perWorker * 512 * 2)
	shared := int64(workers * perWorker * 512) // sectors everybody writes
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 0))
			for r := range rounds {
				s := rng.IntN(perWorker)
				off := int64(w*perWorker+s) * 512
				data := stamp(512, 512, uint64(w+1)<<40|uint64(r))
				if _, err := m.WriteAt(data, off); err != nil {
					errs <- err
					return
				}
				got := Alloc(512)
				if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("worker %d: own sector does not read back (%v)", w, err)
					return
				}
				// Everybody writes whole sectors of the shared area.
				sh := stamp(4096, 512, uint64(w+1)<<40)
				if _, err := m.WriteAt(sh, shared); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range 50 {
			if err := m.Flush(); err != nil {
				errs <- err
				return
			}
			c := m.CrashClone(rand.New(rand.NewPCG(uint64(r), 0)), 0.5)
			c.Reopen()
			_ = m.Unflushed()
			_ = m.AllocatedBytes()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each shared sector holds one worker's whole sector, never a mix.
	got := mustRead(t, m, shared, 4096)
	for s := 0; s < 4096; s += 512 {
		tag, ok := sectorTag(got[s : s+512])
		if !ok || tag>>40 == 0 || tag>>40 > workers || tag&0xffffffffff != uint64(s/512) {
			t.Errorf("shared sector %d holds %#x (whole: %v)", s/512, tag, ok)
		}
	}
}
