package device

import (
	"bytes"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestCountingExact(t *testing.T) {
	c := NewCounting(MustMem(1 << 20))
	mustWrite(t, c, stamp(4096, 512, 1), 0)
	mustWrite(t, c, stamp(512, 512, 2), 8192)
	mustWrite(t, c, stamp(8192, 512, 3), 16384)
	mustRead(t, c, 0, 4096)
	mustRead(t, c, 16384, 1024)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Discard(0, 1024); err != nil {
		t.Fatal(err)
	}
	if err := c.Discard(65536, 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteAt(Alloc(1024), 1<<20-512); err == nil { // past end
		t.Fatal("write past end succeeded")
	}
	if _, err := c.ReadAt(Alloc(1024)[:700], 0); err == nil { // unaligned
		t.Fatal("unaligned read succeeded")
	}
	if err := c.Discard(1<<20, 512); err == nil {
		t.Fatal("discard past end succeeded")
	}
	want := Counters{Reads: 3, Writes: 4, ReadBytes: 4096 + 1024, WriteBytes: 4096 + 512 + 8192,
		Flushes: 1, Discards: 3, DiscardBytes: 1024 + 4096, Errors: 3}
	if got := c.Counters(); got != want {
		t.Errorf("Counters =\n %v\nwant\n %v", got, want)
	}
	if s := c.Counters().String(); !strings.Contains(s, "writes=4 (12800 B)") || !strings.Contains(s, "errors=3") {
		t.Errorf("String = %q", s)
	}
}

func TestCountingCountsInjectedErrors(t *testing.T) {
	m := MustMem(1 << 20)
	c := NewCounting(NewFaulty(m, FailWhen(OpFlush, 0, 0, nil)))
	wantErr(t, "Flush", c.Flush(), ErrInjected)
	mustWrite(t, c, stamp(512, 512, 1), 0)
	if got := c.Counters(); got.Flushes != 1 || got.Errors != 1 || got.Writes != 1 || got.WriteBytes != 512 {
		t.Errorf("Counters = %v", got)
	}
}

func TestCountersArithmetic(t *testing.T) {
	a := Counters{Reads: 10, Writes: 20, ReadBytes: 100, WriteBytes: 200, Flushes: 3, Discards: 4, DiscardBytes: 40, Errors: 1}
	b := Counters{Reads: 1, Writes: 2, ReadBytes: 10, WriteBytes: 20, Flushes: 1, Discards: 1, DiscardBytes: 4, Errors: 1}
	sum := Counters{Reads: 11, Writes: 22, ReadBytes: 110, WriteBytes: 220, Flushes: 4, Discards: 5, DiscardBytes: 44, Errors: 2}
	diff := Counters{Reads: 9, Writes: 18, ReadBytes: 90, WriteBytes: 180, Flushes: 2, Discards: 3, DiscardBytes: 36, Errors: 0}
	if got := a.Add(b); got != sum {
		t.Errorf("Add = %v", got)
	}
	if got := a.Sub(b); got != diff {
		t.Errorf("Sub = %v", got)
	}
	if got := a.Add(b).Sub(b); got != a {
		t.Errorf("Add then Sub = %v", got)
	}

	// Sub of two snapshots is the interval between them.
	c := NewCounting(MustMem(1 << 20))
	mustWrite(t, c, stamp(4096, 512, 1), 0)
	before := c.Counters()
	mustRead(t, c, 0, 512)
	mustWrite(t, c, stamp(1024, 512, 1), 0)
	c.Flush()
	want := Counters{Reads: 1, ReadBytes: 512, Writes: 1, WriteBytes: 1024, Flushes: 1}
	if got := c.Counters().Sub(before); got != want {
		t.Errorf("interval = %v, want %v", got, want)
	}
}

func TestCountingConcurrent(t *testing.T) {
	c := NewCounting(MustMem(1 << 20))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := stamp(512, 512, uint64(w))
			for i := range 500 {
				c.WriteAt(buf, int64(w*500+i)%2048*512)
				c.ReadAt(buf, 0)
			}
		}()
	}
	wg.Wait()
	if got := c.Counters(); got.Writes != 4000 || got.Reads != 4000 || got.WriteBytes != 4000*512 || got.Errors != 0 {
		t.Errorf("Counters = %v", got)
	}
}

func TestNull(t *testing.T) {
	for _, c := range []struct {
		size   int64
		sector int
	}{{0, 512}, {-512, 512}, {1000, 512}, {4096, -1}} {
		_, err := NewNull(c.size, c.sector)
		wantErr(t, "NewNull", err, ErrBadSize)
	}
	n, err := NewNull(1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n.SectorSize() != 512 || n.Size() != 1<<30 {
		t.Errorf("geometry %d/%d", n.SectorSize(), n.Size())
	}
	mustWrite(t, n, stamp(4096, 512, 1), 0)
	if got := mustRead(t, n, 0, 4096); !allZero(got) { // mustRead prefills 0xee
		t.Errorf("Null read is not zeros")
	}
	// No address check: Null drives any buffer.
	if _, err := n.ReadAt(Alloc(1024)[1:513], 512); err != nil {
		t.Errorf("unaligned buffer: %v", err)
	}
	_, err = n.ReadAt(Alloc(512), 1<<30)
	wantErr(t, "read past end", err, ErrOutOfRange)
	_, err = n.WriteAt(Alloc(512), 100)
	wantErr(t, "unaligned write", err, ErrUnaligned)
	wantErr(t, "discard past end", n.Discard(1<<30-512, 1024), ErrOutOfRange)
	if n.Discard(0, 1<<30) != nil || n.Flush() != nil || n.Close() != nil {
		t.Errorf("Discard/Flush/Close failed")
	}
	if info := Describe(n); info.Kind != KindNull || info.Size != 1<<30 || info.LogicalSector != 512 {
		t.Errorf("Describe = %+v", info)
	}
}

func TestSub(t *testing.T) {
	m := MustMem(1 << 20)
	maxAligned := int64(math.MaxInt64/512) * 512
	for _, c := range []struct{ off, size int64 }{
		{-512, 512}, {0, 0}, {100, 512}, {512, 100}, {512, 1 << 20}, {1 << 20, 512}, {maxAligned, 1024}, {512, maxAligned},
	} {
		_, err := NewSub(m, c.off, c.size)
		wantErr(t, "NewSub", err, ErrBadSize)
	}
	s, err := NewSub(m, 64<<10, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != 128<<10 || s.SectorSize() != 512 || s.Offset() != 64<<10 || s.Unwrap() != m {
		t.Errorf("Sub geometry %d/%d/%d", s.Size(), s.SectorSize(), s.Offset())
	}
	data := stamp(4096, 512, 1<<32)
	mustWrite(t, s, data, 0)
	mustWrite(t, s, data, 128<<10-4096)
	if !bytes.Equal(mustRead(t, m, 64<<10, 4096), data) || !bytes.Equal(mustRead(t, m, 192<<10-4096, 4096), data) {
		t.Errorf("Sub writes did not land at the window's offset")
	}
	if !allZero(mustRead(t, m, 0, 64<<10)) || !allZero(mustRead(t, m, 192<<10, 64<<10)) {
		t.Errorf("Sub wrote outside its window")
	}
	for _, c := range []struct {
		off int64
		n   int
	}{{128 << 10, 512}, {128<<10 - 512, 1024}, {-512, 512}, {maxAligned, 1024}} {
		_, err := s.WriteAt(Alloc(c.n), c.off)
		wantErr(t, "write outside the window", err, ErrOutOfRange)
		_, err = s.ReadAt(Alloc(c.n), c.off)
		wantErr(t, "read outside the window", err, ErrOutOfRange)
	}
	_, err = s.WriteAt(Alloc(1024)[:700], 0)
	wantErr(t, "unaligned write through Sub", err, ErrUnaligned)

	if err := s.Discard(0, 512); err != nil {
		t.Fatal(err)
	}
	if err := s.Zero(128<<10-512, 512); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, m, 64<<10, 4096)
	if !allZero(got[:512]) || !bytes.Equal(got[512:], data[512:]) {
		t.Errorf("Sub.Discard did not zero exactly the window's first sector")
	}
	if !allZero(mustRead(t, m, 192<<10-512, 512)) {
		t.Errorf("Sub.Zero did not zero the window's last sector")
	}
	wantErr(t, "discard past the window", s.Discard(128<<10, 512), ErrOutOfRange)
	wantErr(t, "zero past the window", s.Zero(0, 128<<10+512), ErrOutOfRange)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustRead(t, m, 0, 512) // Close leaves the inner device open
	opaque, err := NewSub(plain{m}, 0, 512)
	if err != nil {
		t.Fatal(err)
	}
	if err := opaque.Discard(0, 512); err == nil {
		t.Errorf("Discard through a Sub of a device that cannot discard succeeded")
	}
}

func TestDescribeAndInnermost(t *testing.T) {
	m, _ := NewMem(1<<20, MemOptions{SectorSize: 4096, MemAlign: 4096})
	s, _ := NewSub(m, 4096, 64<<10)
	outer := NewCounting(NewFaulty(s, nil))
	info := Describe(outer)
	if info.Kind != KindMem || info.Size != 64<<10 || info.LogicalSector != 4096 || info.MemAlign != 4096 {
		t.Errorf("Describe through wrappers = %+v", info)
	}
	if Innermost(outer) != Device(m) {
		t.Errorf("Innermost = %T", Innermost(outer))
	}
	if Innermost(m) != Device(m) {
		t.Errorf("Innermost of an unwrapped device is not itself")
	}
	info = Describe(plain{m})
	if info.Kind != "unknown" || info.Size != 1<<20 || info.LogicalSector != 4096 {
		t.Errorf("Describe of an opaque device = %+v", info)
	}
}

func TestZero(t *testing.T) {
	// Over a device without a Zeroer, Zero through Counting writes zeros in
	// 1 MiB IOs (over one with a Zeroer it passes through: see
	// TestWrappersPassZeroing).
	m := MustMem(4 << 20)
	c := NewCounting(plain{m})
	mustWrite(t, m, stamp(4<<20, 512, 1<<32), 0)
	if err := Zero(c, 512, 3<<20); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, m, 0, 4<<20)
	if !allZero(got[512:512+3<<20]) || allZero(got[:512]) || allZero(got[512+3<<20:]) {
		t.Errorf("Zero did not zero exactly its range")
	}
	if n := c.Counters(); n.Writes != 3 || n.WriteBytes != 3<<20 {
		t.Errorf("fallback Zero: %v; want 3 writes of 1 MiB", n)
	}
	// Mem zeroes natively, without writes.
	if err := Zero(m, 0, 4<<20); err != nil {
		t.Fatal(err)
	}
	if !allZero(mustRead(t, m, 0, 4<<20)) || m.AllocatedBytes() != 0 {
		t.Errorf("Mem.Zero: content not zero or %d bytes still allocated", m.AllocatedBytes())
	}
	wantErr(t, "Zero past end", Zero(c, 4<<20, 512), ErrOutOfRange)
	wantErr(t, "Zero unaligned", Zero(c, 1, 512), ErrUnaligned)
}
