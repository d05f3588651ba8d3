package device

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// OpKind names a device operation.
type OpKind uint8

const (
	OpRead OpKind = iota
	OpWrite
	OpFlush
	OpDiscard
)

func (k OpKind) String() string {
	switch k {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpFlush:
		return "flush"
	case OpDiscard:
		return "discard"
	}
	return fmt.Sprintf("op(%d)", k)
}

// Op is one operation as seen by an Injector. Index counts operations of all
// kinds through the Faulty device, from 0.
type Op struct {
	Kind  OpKind
	Off   int64
	Len   int64
	Index uint64
}

// Fault is an Injector's verdict on one operation.
type Fault struct {
	Err     error // the operation fails with Err without reaching the device
	Corrupt bool  // reads: the data is returned with one byte flipped per sector
	Drop    bool  // writes: acknowledged but never performed (a lost write)
}

// Injector decides the fate of each operation. Implementations must be safe
// for concurrent use.
type Injector interface {
	Inject(op Op) Fault
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op) Fault

func (f InjectorFunc) Inject(op Op) Fault { return f(op) }

// FailAt fails exactly the operation with index n.
func FailAt(n uint64, err error) Injector {
	return InjectorFunc(func(op Op) Fault {
		if op.Index == n {
			return Fault{Err: orInjected(err)}
		}
		return Fault{}
	})
}

// FailFrom fails every operation from index n on: the device "dies" (a crash
// point for crash tests).
func FailFrom(n uint64, err error) Injector {
	return InjectorFunc(func(op Op) Fault {
		if op.Index >= n {
			return Fault{Err: orInjected(err)}
		}
		return Fault{}
	})
}

// FailWhen fails operations of the given kind that overlap [off, end). A flush
// has no range: FailWhen(OpFlush, ...) fails every flush.
func FailWhen(kind OpKind, off, end int64, err error) Injector {
	return InjectorFunc(func(op Op) Fault {
		if op.Kind == kind && (kind == OpFlush || op.Off < end && op.Off+op.Len > off) {
			return Fault{Err: orInjected(err)}
		}
		return Fault{}
	})
}

// CorruptReadsIn corrupts reads that overlap [off, end).
func CorruptReadsIn(off, end int64) Injector {
	return InjectorFunc(func(op Op) Fault {
		return Fault{Corrupt: op.Kind == OpRead && op.Off < end && op.Off+op.Len > off}
	})
}

// Randomly fails each operation of the given kinds with probability p, from a
// seeded generator (deterministic at queue depth 1).
func Randomly(seed uint64, p float64, err error, kinds ...OpKind) Injector {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return InjectorFunc(func(op Op) Fault {
		match := len(kinds) == 0
		for _, k := range kinds {
			match = match || k == op.Kind
		}
		if !match {
			return Fault{}
		}
		mu.Lock()
		hit := rng.Float64() < p
		mu.Unlock()
		if hit {
			return Fault{Err: orInjected(err)}
		}
		return Fault{}
	})
}

// Any combines injectors: the first non-empty verdict wins.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) Fault {
		for _, in := range injs {
			if f := in.Inject(op); f != (Fault{}) {
				return f
			}
		}
		return Fault{}
	})
}

func orInjected(err error) error {
	if err == nil {
		return ErrInjected
	}
	return err
}

// Faulty wraps a device and asks an Injector about every operation. It is
// safe for concurrent use; Index order across concurrent callers is the order
// in which they reached the wrapper.
type Faulty struct {
	inner    Device
	injector atomic.Pointer[Injector]
	next     atomic.Uint64
	injected atomic.Uint64
}

// NewFaulty wraps inner; a nil injector injects nothing until SetInjector.
func NewFaulty(inner Device, inj Injector) *Faulty {
	f := &Faulty{inner: inner}
	f.SetInjector(inj)
	return f
}

// SetInjector replaces the injector (nil: no faults).
func (f *Faulty) SetInjector(inj Injector) {
	if inj == nil {
		inj = InjectorFunc(func(Op) Fault { return Fault{} })
	}
	f.injector.Store(&inj)
}

// Ops returns how many operations have been seen.
func (f *Faulty) Ops() uint64 { return f.next.Load() }

// Injected returns how many operations were failed, corrupted or dropped.
func (f *Faulty) Injected() uint64 { return f.injected.Load() }

func (f *Faulty) decide(kind OpKind, off, n int64) Fault {
	op := Op{Kind: kind, Off: off, Len: n, Index: f.next.Add(1) - 1}
	fault := (*f.injector.Load()).Inject(op)
	if fault != (Fault{}) {
		f.injected.Add(1)
	}
	return fault
}

func (f *Faulty) ReadAt(p []byte, off int64) (int, error) {
	fault := f.decide(OpRead, off, int64(len(p)))
	if fault.Err != nil {
		return 0, fmt.Errorf("read at %d: %w", off, fault.Err)
	}
	n, err := f.inner.ReadAt(p, off)
	if err == nil && fault.Corrupt {
		sec := f.inner.SectorSize()
		for i := 0; i < len(p); i += sec {
			p[i+sec/2] ^= 0x5a
		}
	}
	return n, err
}

func (f *Faulty) WriteAt(p []byte, off int64) (int, error) {
	fault := f.decide(OpWrite, off, int64(len(p)))
	if fault.Err != nil {
		return 0, fmt.Errorf("write at %d: %w", off, fault.Err)
	}
	if fault.Drop {
		// A lost write is still checked like a real one would be.
		if err := CheckIO(p, off, f.inner.SectorSize(), Describe(f.inner).MemAlign, f.inner.Size()); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return f.inner.WriteAt(p, off)
}

func (f *Faulty) Flush() error {
	if fault := f.decide(OpFlush, 0, 0); fault.Err != nil {
		return fmt.Errorf("flush: %w", fault.Err)
	}
	return f.inner.Flush()
}

// Discard passes through to the inner device when it is a Discarder.
func (f *Faulty) Discard(off, n int64) error {
	d, ok := f.inner.(Discarder)
	if !ok {
		return fmt.Errorf("device: %T cannot discard", f.inner)
	}
	if fault := f.decide(OpDiscard, off, n); fault.Err != nil {
		return fmt.Errorf("discard at %d: %w", off, fault.Err)
	}
	return d.Discard(off, n)
}

func (f *Faulty) Size() int64     { return f.inner.Size() }
func (f *Faulty) SectorSize() int { return f.inner.SectorSize() }
func (f *Faulty) Close() error    { return f.inner.Close() }
func (f *Faulty) Unwrap() Device  { return f.inner }
