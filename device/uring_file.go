package device

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IOEngine names how a File moves data.
type IOEngine string

const (
	// IOEngineAuto uses io_uring where the kernel allows it and psync
	// otherwise.
	IOEngineAuto IOEngine = "auto"
	// IOEngineURing submits reads, writes and flushes through an io_uring
	// that one OS thread of its own submits and reaps: a goroutine waiting
	// for IO holds no OS thread, so any number of concurrent callers share
	// the runtime's few threads. A read or write made while no more than
	// GOMAXPROCS are in progress (a low queue depth) is a plain pread/pwrite
	// instead, the shortest path there (a raw system call when GOMAXPROCS >
	// 1: see File.directRaw).
	IOEngineURing IOEngine = "uring"
	// IOEnginePsync is pread/pwrite/fdatasync: each caller blocks an OS
	// thread for the duration of its IO (the default of Open). Concurrent
	// callers beyond GOMAXPROCS wait for a thread unless GOMAXPROCS is
	// raised to the queue depth (see PsyncProcs).
	IOEnginePsync IOEngine = "psync"
)

// IOEngines lists the accepted names, for flags and errors.
var IOEngines = []IOEngine{IOEngineAuto, IOEngineURing, IOEnginePsync}

// ParseIOEngine parses an --io-engine value ("" is auto).
func ParseIOEngine(s string) (IOEngine, error) {
	if s == "" {
		return IOEngineAuto, nil
	}
	for _, e := range IOEngines {
		if string(e) == s {
			return e, nil
		}
	}
	names := make([]string, len(IOEngines))
	for i, e := range IOEngines {
		names[i] = string(e)
	}
	return "", fmt.Errorf("device: unknown IO engine %q (known: %s)", s, strings.Join(names, ", "))
}

// uringOpen sets up a File's ring; tests replace it to play a kernel
// without io_uring.
var uringOpen = newUring

// uringEntries is the ring size of a File: queue depths up to this many
// are in flight at once; deeper callers wait for a free entry.
const uringEntries = 256

// SetIOEngine selects how d does ReadAt, WriteAt and Flush, and returns the
// engine in use, which Info().IOEngine reports too (psync until it is
// called). IOEngineURing fails (and leaves d on psync) where io_uring
// cannot be set up (an old kernel, ENOSYS; a container's seccomp policy,
// EPERM; the kernel.io_uring_disabled sysctl); IOEngineAuto then falls back
// to psync. The uring engine reads GOMAXPROCS
// here, for the queue depths it serves with direct calls (File.directMax).
// Call it before d is used concurrently: it is not safe for concurrent use
// with IO on d.
func (d *File) SetIOEngine(e IOEngine) (IOEngine, error) {
	if d.closed.Load() {
		return "", ErrClosed
	}
	switch e {
	case IOEnginePsync:
		if d.ring != nil {
			d.ring.close()
			d.ring, d.directMax, d.directRaw = nil, 0, false
		}
	case IOEngineURing, IOEngineAuto:
		if d.ring == nil {
			r, err := uringOpen(uringEntries)
			if err != nil {
				if e == IOEngineURing {
					return d.engine(), err
				}
				break
			}
			// Fd puts the file in blocking mode, which is what pread and
			// fdatasync need anyway; regular files are never polled.
			d.fd, d.ring = int32(d.f.Fd()), r
		}
		procs := runtime.GOMAXPROCS(0)
		d.directMax, d.directRaw = int32(procs), procs > 1
	default:
		return d.engine(), fmt.Errorf("device: unknown IO engine %q", e)
	}
	return d.engine(), nil
}

func (d *File) engine() IOEngine {
	if d.ring != nil {
		return IOEngineURing
	}
	return IOEnginePsync
}

// ringMaxIO bounds one SQE's length (the kernel caps a read or write at
// 2 GiB - 4 KiB anyway); longer IO is split.
const ringMaxIO = 1 << 30

// ringRW reads or writes all of p at off through the ring (see transfer).
func (d *File) ringRW(op uint8, p []byte, off int64) (int, error) {
	return d.transfer(op, p, off, func(addr uintptr, n int, off int64) (int32, error) {
		return d.ring.do(op, d.fd, addr, uint32(n), uint64(off), 0)
	})
}

// rawRW reads or writes all of p at off with pread/pwrite made as raw
// system calls (see File.directRaw and transfer).
func (d *File) rawRW(op uint8, p []byte, off int64) (int, error) {
	sys := uintptr(unix.SYS_PREAD64)
	if op == uringOpWrite {
		sys = unix.SYS_PWRITE64
	}
	return d.transfer(op, p, off, func(addr uintptr, n int, off int64) (int32, error) {
		r, _, e := unix.RawSyscall6(sys, uintptr(d.fd), addr, uintptr(n), uintptr(off), 0, 0)
		if e != 0 {
			return -int32(e), nil
		}
		return int32(r), nil
	})
}

// transfer moves all of p at off with do, one call per at most ringMaxIO
// bytes, resubmitting the remainder of a short transfer and requests the
// kernel ended with EINTR or EAGAIN. do returns the kernel's result (bytes,
// or -errno) or an error of its own. A read that reaches the end of the
// file fails with io.EOF, as os.File.ReadAt does.
func (d *File) transfer(op uint8, p []byte, off int64, do func(addr uintptr, n int, off int64) (int32, error)) (int, error) {
	what := "read"
	if op == uringOpWrite {
		what = "write"
	}
	done := 0
	for done < len(p) {
		n := min(len(p)-done, ringMaxIO)
		res, err := do(uintptr(unsafe.Pointer(&p[done])), n, off+int64(done))
		switch {
		case errors.Is(err, ErrClosed):
			return done, ErrClosed
		case err != nil:
			return done, fmt.Errorf("device: %s %s at %d: %w", what, d.info.Path, off, err)
		case res > 0:
			done += int(res)
		case res == 0 && op == uringOpRead:
			return done, fmt.Errorf("device: read %s at %d: %w", d.info.Path, off, io.EOF)
		case res == 0:
			return done, fmt.Errorf("device: write %s at %d: %w", d.info.Path, off, io.ErrShortWrite)
		case res == -int32(unix.EINTR), res == -int32(unix.EAGAIN):
		default:
			return done, fmt.Errorf("device: %s %s at %d: %w", what, d.info.Path, off, unix.Errno(-res))
		}
	}
	runtime.KeepAlive(p) // the kernel wrote or read p until the last completion
	return done, nil
}

// ringFlush is fdatasync through the ring.
func (d *File) ringFlush() error {
	for {
		res, err := d.ring.do(uringOpFsync, d.fd, 0, 0, 0, uringFsyncDatasync)
		switch {
		case errors.Is(err, ErrClosed):
			return ErrClosed
		case err != nil:
			return fmt.Errorf("device: fdatasync %s: %w", d.info.Path, err)
		case res == -int32(unix.EINTR), res == -int32(unix.EAGAIN):
			continue
		case res < 0:
			return fmt.Errorf("device: fdatasync %s: %w", d.info.Path, unix.Errno(-res))
		}
		return nil
	}
}

// PsyncProcs is the GOMAXPROCS a run of qd concurrent psync callers needs
// so that none waits for a thread while others block in the kernel:
// qd + NumCPU (and never below the current setting).
func PsyncProcs(qd int) int {
	return max(qd+runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// uringMinProcs is the GOMAXPROCS the uring engine needs: the ring thread
// keeps its P while it waits in io_uring_enter (the runtime hands a P in a
// system call to others only when its monitor retakes it, tens of
// microseconds later), so with one P the callers waited for that at every
// wait. 4 KiB random writes at queue depth 32 to a direct-IO loop device,
// on one CPU (taskset), interleaved: GOMAXPROCS 1 68,928 and 82,602 IOPS,
// 2 112,021 and 113,408 (the eventfd-and-netpoller ring before the ring
// thread: 101,482 and 102,634 with 1).
const uringMinProcs = 2

// ProcsFor prepares the process for qd concurrent callers on engine e: for
// psync it raises GOMAXPROCS to PsyncProcs(qd), for uring to at least
// uringMinProcs; the uring engine's waiters hold no thread and need no
// more. It returns the function that undoes it.
func ProcsFor(e IOEngine, qd int) (restore func()) {
	want := runtime.GOMAXPROCS(0)
	switch e {
	case IOEnginePsync:
		want = PsyncProcs(qd)
	case IOEngineURing:
		want = max(want, uringMinProcs)
	}
	old := runtime.GOMAXPROCS(want)
	return func() { runtime.GOMAXPROCS(old) }
}
