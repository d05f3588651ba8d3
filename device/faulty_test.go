package device

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// scriptOp is one step of faultyScript.
type scriptOp struct {
	kind OpKind
	off  int64
	n    int
	tag  uint64 // writes: the stamp
}

// faultyScript is a fixed sequence of operations; the tests below refer to
// them by index.
var faultyScript = []scriptOp{
	{OpWrite, 0, 4096, 1 << 32},    // 0
	{OpRead, 0, 4096, 0},           // 1
	{OpWrite, 8192, 4096, 2 << 32}, // 2
	{OpFlush, 0, 0, 0},             // 3
	{OpRead, 8192, 4096, 0},        // 4
	{OpWrite, 16384, 512, 3 << 32}, // 5
	{OpRead, 0, 16384, 0},          // 6
	{OpWrite, 4096, 4096, 4 << 32}, // 7
	{OpDiscard, 32768, 512, 0},     // 8
}

func runScript(f *Faulty) []error {
	var out []error
	for _, op := range faultyScript {
		var err error
		switch op.kind {
		case OpWrite:
			_, err = f.WriteAt(stamp(op.n, 512, op.tag), op.off)
		case OpRead:
			_, err = f.ReadAt(Alloc(op.n), op.off)
		case OpFlush:
			err = f.Flush()
		case OpDiscard:
			err = f.Discard(op.off, int64(op.n))
		}
		out = append(out, err)
	}
	return out
}

func TestFaultyInjectors(t *testing.T) {
	custom := errors.New("custom failure")
	cases := []struct {
		name string
		inj  Injector
		fail []int // indexes of the operations that must fail
		err  error
	}{
		{"none", nil, nil, nil},
		{"FailAt", FailAt(2, nil), []int{2}, ErrInjected},
		{"FailAt custom error", FailAt(0, custom), []int{0}, custom},
		{"FailAt beyond the end", FailAt(100, nil), nil, nil},
		{"FailFrom", FailFrom(5, nil), []int{5, 6, 7, 8}, ErrInjected},
		{"FailFrom 0", FailFrom(0, custom), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, custom},
		{"FailWhen writes in range", FailWhen(OpWrite, 4096, 12288, nil), []int{2, 7}, ErrInjected},
		{"FailWhen discards in range", FailWhen(OpDiscard, 32768, 33280, nil), []int{8}, ErrInjected},
		{"FailWhen reads in range", FailWhen(OpRead, 8192, 8704, nil), []int{4, 6}, ErrInjected},
		{"FailWhen range touching, not overlapping", FailWhen(OpWrite, 12288, 16384, nil), nil, nil},
		{"FailWhen flush", FailWhen(OpFlush, 0, 0, custom), []int{3}, custom},
		{"Randomly p=1 writes", Randomly(1, 1, nil, OpWrite), []int{0, 2, 5, 7}, ErrInjected},
		{"Randomly p=0", Randomly(1, 0, nil), nil, nil},
		{"Any", Any(FailAt(1, custom), FailWhen(OpWrite, 16384, 16896, custom)), []int{1, 5}, custom},
		{"Any of nothing", Any(), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := MustMem(1 << 20)
			f := NewFaulty(m, c.inj)
			res := runScript(f)
			if f.Ops() != uint64(len(res)) {
				t.Errorf("Ops = %d, want %d", f.Ops(), len(res))
			}
			if f.Injected() != uint64(len(c.fail)) {
				t.Errorf("Injected = %d, want %d", f.Injected(), len(c.fail))
			}
			failing := map[int]bool{}
			for _, i := range c.fail {
				failing[i] = true
			}
			for i, err := range res {
				switch {
				case failing[i] && err == nil:
					t.Errorf("op %d succeeded, want it to fail", i)
				case failing[i]:
					wantErr(t, fmt.Sprintf("op %d", i), err, c.err)
				case err != nil:
					t.Errorf("op %d failed: %v", i, err)
				}
			}
			// A failed write never reaches the device.
			for i, op := range faultyScript {
				if op.kind != OpWrite {
					continue
				}
				got := mustRead(t, m, op.off, op.n)
				if reached := bytes.Equal(got, stamp(op.n, 512, op.tag)); reached == failing[i] {
					t.Errorf("op %d (write at %d): reached the device = %v, failed = %v", i, op.off, reached, failing[i])
				}
			}
		})
	}
}

func TestFaultyCorruptReads(t *testing.T) {
	m := MustMem(1 << 20)
	data := stamp(8192, 512, 1<<32)
	mustWrite(t, m, data, 0)
	f := NewFaulty(m, CorruptReadsIn(4096, 4608))
	for _, c := range []struct {
		off     int64
		n       int
		corrupt bool
	}{{0, 4096, false}, {4096, 512, true}, {0, 8192, true}, {4608, 3584, false}} {
		got := mustRead(t, f, c.off, c.n)
		want := data[c.off : c.off+int64(c.n)]
		for s := 0; s < c.n; s += 512 {
			diff := 0
			for i := s; i < s+512; i++ {
				if got[i] != want[i] {
					diff++
				}
			}
			if c.corrupt && diff != 1 || !c.corrupt && diff != 0 {
				t.Errorf("read %d+%d, sector %d: %d bytes differ, want %v", c.off, c.n, s/512, diff, map[bool]int{true: 1, false: 0}[c.corrupt])
			}
		}
	}
	if f.Injected() != 2 {
		t.Errorf("Injected = %d, want 2", f.Injected())
	}
	if !bytes.Equal(mustRead(t, m, 0, 8192), data) {
		t.Errorf("corrupting reads changed the device")
	}
}

func TestFaultyDrop(t *testing.T) {
	m := MustMem(1 << 20)
	dropWrites := InjectorFunc(func(op Op) Fault { return Fault{Drop: op.Kind == OpWrite} })
	f := NewFaulty(m, dropWrites)
	old := stamp(4096, 512, 1<<32)
	mustWrite(t, m, old, 0)
	if n, err := f.WriteAt(stamp(4096, 512, 2<<32), 0); n != 4096 || err != nil {
		t.Fatalf("dropped write = %d, %v; want acknowledged", n, err)
	}
	if !bytes.Equal(mustRead(t, f, 0, 4096), old) {
		t.Errorf("a dropped write reached the device")
	}
	// A dropped write is still checked like a real one.
	_, err := f.WriteAt(Alloc(1024)[:700], 0)
	wantErr(t, "dropped unaligned length", err, ErrUnaligned)
	_, err = f.WriteAt(Alloc(4096)[8:520], 0)
	wantErr(t, "dropped unaligned buffer", err, ErrUnaligned)
	_, err = f.WriteAt(Alloc(1024), 1<<20-512)
	wantErr(t, "dropped write past end", err, ErrOutOfRange)
	if f.Injected() != 4 || f.Ops() != 5 {
		t.Errorf("Injected = %d, Ops = %d; want 4 and 5", f.Injected(), f.Ops())
	}
}

func TestFaultyRandomlyDeterministic(t *testing.T) {
	failures := func(seed uint64, p float64, kinds ...OpKind) []uint64 {
		f := NewFaulty(MustMem(1<<20), Randomly(seed, p, nil, kinds...))
		var out []uint64
		buf := Alloc(512)
		for i := range 2000 {
			var err error
			switch i % 3 {
			case 0:
				_, err = f.WriteAt(buf, int64(i%100)*512)
			case 1:
				_, err = f.ReadAt(buf, int64(i%100)*512)
			default:
				err = f.Flush()
			}
			if err != nil {
				wantErr(t, "Randomly", err, ErrInjected)
				out = append(out, uint64(i))
			}
		}
		return out
	}
	a, b, c := failures(7, 0.25), failures(7, 0.25), failures(8, 0.25)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different failures")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("different seeds, same failures")
	}
	if n := len(a); n < 400 || n > 600 {
		t.Errorf("p=0.25 failed %d of 2000 operations", n)
	}
	for _, i := range failures(7, 0.5, OpFlush) {
		if i%3 != 2 {
			t.Fatalf("Randomly(..., OpFlush) failed op %d, which is not a flush", i)
		}
	}
}

func TestFaultyAnyFirstVerdictWins(t *testing.T) {
	m := MustMem(1 << 20)
	drop := InjectorFunc(func(Op) Fault { return Fault{Drop: true} })
	f := NewFaulty(m, Any(FailWhen(OpRead, 0, 512, nil), drop, FailAt(0, nil)))
	if _, err := f.WriteAt(stamp(512, 512, 1), 0); err != nil {
		t.Errorf("write: %v; want it dropped by the first matching injector, not failed", err)
	}
	if !allZero(mustRead(t, m, 0, 512)) {
		t.Errorf("write was not dropped")
	}
	_, err := f.ReadAt(Alloc(512), 0)
	wantErr(t, "read", err, ErrInjected)
}

func TestFaultyPassThrough(t *testing.T) {
	m := MustMem(1 << 20)
	f := NewFaulty(m, FailAt(0, nil))
	f.SetInjector(nil)
	mustWrite(t, f, stamp(512, 512, 9), 0)
	if err := f.Discard(0, 512); err != nil {
		t.Fatal(err)
	}
	if !allZero(mustRead(t, m, 0, 512)) {
		t.Errorf("Discard did not reach the device")
	}
	f.SetInjector(FailWhen(OpDiscard, 0, 4096, nil))
	wantErr(t, "injected discard", f.Discard(1024, 512), ErrInjected)
	if err := f.Discard(4096, 512); err != nil {
		t.Errorf("discard outside the range: %v", err)
	}
	if f.Unwrap() != m || f.Size() != m.Size() || f.SectorSize() != m.SectorSize() {
		t.Errorf("Unwrap/Size/SectorSize do not pass through")
	}
	if err := NewFaulty(plain{m}, nil).Discard(0, 512); err == nil {
		t.Errorf("Discard on a device that cannot discard succeeded")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := m.ReadAt(Alloc(512), 0)
	wantErr(t, "read after Faulty.Close", err, ErrClosed)
	if OpRead.String() != "read" || OpDiscard.String() != "discard" || OpKind(9).String() != "op(9)" {
		t.Errorf("OpKind.String")
	}
}
