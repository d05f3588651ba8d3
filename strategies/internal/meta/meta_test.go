package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/snapbench/snapbench/device"
)

func TestCodecRoundTrip(t *testing.T) {
	var e Encoder
	e.U8(7)
	e.U16(0xbeef)
	e.U32(0xdeadbeef)
	e.U64(1 << 60)
	e.I64(-5)
	e.String("volume")
	e.Bytes([]byte{1, 2, 3})
	d := Decoder{B: e.B}
	if d.U8() != 7 || d.U16() != 0xbeef || d.U32() != 0xdeadbeef || d.U64() != 1<<60 || d.I64() != -5 ||
		d.String(64) != "volume" || !bytes.Equal(d.Bytes(10), []byte{1, 2, 3}) || d.Err() != nil || d.Remaining() != 0 {
		t.Fatal("round trip mismatch")
	}
	short := Decoder{B: e.B[:5]}
	short.U8()
	short.U64()
	if !errors.Is(short.Err(), ErrShort) {
		t.Fatalf("short record: %v", short.Err())
	}
	long := Decoder{B: (&Encoder{}).B}
	long.String(3)
	if long.Err() == nil {
		t.Fatal("empty decoder read a string")
	}
}

func TestDualSlotCommitAndCrash(t *testing.T) {
	mem := device.MustMem(1 << 20)
	s := NewDualSlot(mem, 0, 64<<10, 64<<10)
	if _, err := s.Load(); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("empty: %v", err)
	}
	if err := s.Format([]byte("gen0")); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for gen := 1; gen < 200; gen++ {
		rec := bytes.Repeat([]byte{byte(gen)}, 1+rng.IntN(20000))
		prev, err := NewDualSlot(mem, 0, 64<<10, 64<<10).Load()
		if err != nil {
			t.Fatal(err)
		}
		// Crash in the middle of the commit: the write lands partly.
		f := device.NewFaulty(mem, nil)
		crashing := NewDualSlot(f, 0, 64<<10, 64<<10)
		if _, err := crashing.Load(); err != nil {
			t.Fatal(err)
		}
		f.SetInjector(device.FailFrom(f.Ops()+1, nil)) // the write lands, the flush fails
		if err := crashing.Commit(rec); !errors.Is(err, device.ErrInjected) {
			t.Fatalf("commit: %v", err)
		}
		c := mem.CrashClone(rng, 0.5)
		got, err := NewDualSlot(c, 0, 64<<10, 64<<10).Load()
		if err != nil {
			t.Fatalf("gen %d: after crash: %v", gen, err)
		}
		if !bytes.Equal(got, prev) && !bytes.Equal(got, rec) {
			t.Fatalf("gen %d: after crash got a record that is neither old nor new", gen)
		}
		// Now commit for real.
		s2 := NewDualSlot(mem, 0, 64<<10, 64<<10)
		s2.Load()
		if err := s2.Commit(rec); err != nil {
			t.Fatal(err)
		}
		got, err = NewDualSlot(mem.Reopen(), 0, 64<<10, 64<<10).Load()
		if err != nil || !bytes.Equal(got, rec) {
			t.Fatalf("gen %d: committed record not loaded: %v", gen, err)
		}
	}
	if err := s.Commit(make([]byte, 64<<10)); err == nil {
		t.Fatal("oversized record accepted")
	}
}

func FuzzDualSlotLoad(f *testing.F) {
	f.Add([]byte("SBSLOT01"), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		mem := device.MustMem(64 << 10)
		buf := device.Alloc(32 << 10)
		copy(buf, a)
		mem.WriteAt(buf, 0)
		clear(buf)
		copy(buf, b)
		mem.WriteAt(buf, 32<<10)
		NewDualSlot(mem, 0, 32<<10, 32<<10).Load()
	})
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Decoder{B: b}
		for d.Err() == nil && d.Remaining() > 0 {
			d.U8()
			d.String(64)
			d.Bytes(1 << 20)
			d.U64()
		}
	})
}

func TestSeal(t *testing.T) {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i * 7)
	}
	const off = 60
	Seal(b, off)
	if got, want := binary.LittleEndian.Uint32(b[off:]), Checksum(b[:off]); got != want {
		t.Fatalf("Seal stored %08x, want the CRC-32C of the prefix %08x", got, want)
	}
	if ChecksumUpdate(Checksum(b[:10]), b[10:off]) != Checksum(b[:off]) {
		t.Error("ChecksumUpdate does not extend Checksum")
	}
	flipped := func(i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		off  int
		want bool
	}{
		{"sealed", b, off, true},
		{"a covered byte changed", flipped(3), off, false},
		{"the checksum changed", flipped(off + 1), off, false},
		{"nothing after the checksum", b[:off+4], off, true},
		{"too short", b[:off+3], off, false},
		{"another offset", b, 20, false},
		{"negative offset", b, -1, false},
	} {
		if got := Sealed(tc.b, tc.off); got != tc.want {
			t.Errorf("%s: Sealed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
