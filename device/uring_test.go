package device

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// engineFile opens a new sparse file of size bytes in dir with IO engine e;
// it skips when e is uring and the kernel refuses io_uring.
func engineFile(t testing.TB, dir string, size int64, e IOEngine) *File {
	t.Helper()
	d, err := Open(filepath.Join(dir, fmt.Sprintf("dev-%s.img", e)), Options{Size: size})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	got, err := d.SetIOEngine(e)
	if err != nil {
		if e == IOEngineURing {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatalf("SetIOEngine(%s): %v", e, err)
	}
	if got != e || d.Info().IOEngine != string(e) {
		t.Fatalf("SetIOEngine(%s) = %s, Info().IOEngine %q", e, got, d.Info().IOEngine)
	}
	return d
}

var fileEngines = []IOEngine{IOEnginePsync, IOEngineURing}

// filePath is one IO path of File: psync, uring as File uses it (a lone
// request is a pread/pwrite made as a raw system call, or through the
// runtime's syscall path when GOMAXPROCS is 1), and uring with every request
// through the ring.
type filePath struct {
	name    string
	engine  IOEngine
	always  bool // File.ringAlways
	syscall bool // File.directRaw off
}

var filePaths = []filePath{{"psync", IOEnginePsync, false, false}, {"uring", IOEngineURing, false, false},
	{"uring-ring-only", IOEngineURing, true, false}, {"uring-lone-syscall", IOEngineURing, false, true}}

func (fp filePath) open(t testing.TB, dir string, size int64) *File {
	d := engineFile(t, dir, size, fp.engine)
	fp.set(d)
	return d
}

func (fp filePath) set(d *File) {
	d.ringAlways = fp.always
	if fp.syscall {
		d.directRaw = false
	}
}

// TestFileEngineConformance runs the File contract on both IO paths:
// read-after-write at every size and offset class, errors, close.
func TestFileEngineConformance(t *testing.T) {
	for _, fp := range filePaths {
		t.Run(fp.name, func(t *testing.T) {
			dir := diskDir(t)
			const size = 8 << 20
			d := fp.open(t, dir, size)
			sec := d.SectorSize()
			cases := []struct {
				name string
				off  int64
				n    int
			}{
				{"first sector", 0, sec},
				{"4k", int64(sec), 4096},
				{"64k unaligned to 64k", 3 * int64(sec), 64 << 10},
				{"1m", 1 << 20, 1 << 20},
				{"3m spanning", 2<<20 + int64(sec), 3 << 20},
				{"last sector", size - int64(sec), sec},
				{"empty", 4096, 0},
			}
			for i, c := range cases {
				data := stamp(c.n, sec, uint64(i+1)<<32)
				if n, err := d.WriteAt(data, c.off); err != nil || n != c.n {
					t.Fatalf("%s: WriteAt = %d, %v", c.name, n, err)
				}
				got := Alloc(c.n)
				if n, err := d.ReadAt(got, c.off); err != nil || n != c.n {
					t.Fatalf("%s: ReadAt = %d, %v", c.name, n, err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("%s: read back differs", c.name)
				}
			}
			if err := d.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			// Sparse holes read as zeros.
			if got := mustRead(t, d, 6<<20, 64<<10); !allZero(got) {
				t.Errorf("a hole does not read as zeros")
			}
			// Discard and zeroing still work beside the ring.
			mustWrite(t, d, stamp(64<<10, sec, 99), 0)
			if err := d.Zero(0, 64<<10); err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, d, 0, 64<<10); !allZero(got) {
				t.Errorf("Zero: range does not read as zeros")
			}
			buf := Alloc(2 * sec)
			_, err := d.ReadAt(buf, size-int64(sec))
			wantErr(t, "ReadAt past end", err, ErrOutOfRange)
			_, err = d.WriteAt(buf[1:1+sec], 0)
			if d.Info().MemAlign > 1 {
				wantErr(t, "WriteAt unaligned buffer", err, ErrUnaligned)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = d.ReadAt(buf, 0)
			wantErr(t, "ReadAt after Close", err, ErrClosed)
			_, err = d.WriteAt(buf, 0)
			wantErr(t, "WriteAt after Close", err, ErrClosed)
			wantErr(t, "Flush after Close", d.Flush(), ErrClosed)
			wantErr(t, "second Close", d.Close(), ErrClosed)
		})
	}
}

// TestFileEnginePastEOF: a file shrunk under the device reads io.EOF past
// its end on both paths (the device still believes its old size).
func TestFileEnginePastEOF(t *testing.T) {
	for _, fp := range filePaths {
		t.Run(fp.name, func(t *testing.T) {
			dir := diskDir(t)
			d := fp.open(t, dir, 1<<20)
			if err := os.Truncate(d.Info().Path, 512<<10); err != nil {
				t.Fatal(err)
			}
			buf := Alloc(4096)
			n, err := d.ReadAt(buf, 768<<10)
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt past EOF = %d, %v; want 0, io.EOF", n, err)
			}
			// A read straddling EOF returns what exists, then io.EOF.
			big := Alloc(8192)
			n, err = d.ReadAt(big, 512<<10-4096)
			if n != 4096 || !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt across EOF = %d, %v; want 4096, io.EOF", n, err)
			}
		})
	}
}

// TestFileEngineErrno: kernel errors arrive as device errors wrapping the
// errno on both paths (a write on a read-only descriptor: EBADF).
func TestFileEngineErrno(t *testing.T) {
	for _, fp := range filePaths {
		t.Run(fp.name, func(t *testing.T) {
			dir := diskDir(t)
			path := filepath.Join(dir, "ro.img")
			w, err := Open(path, Options{Size: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			d, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.SetIOEngine(fp.engine); err != nil {
				t.Skipf("SetIOEngine(%s): %v", fp.engine, err)
			}
			fp.set(d)
			_, err = d.WriteAt(Alloc(4096), 0)
			if !errors.Is(err, unix.EBADF) {
				t.Errorf("WriteAt on a read-only device = %v, want EBADF", err)
			}
			if _, err := d.ReadAt(Alloc(4096), 0); err != nil {
				t.Errorf("ReadAt on a read-only device: %v", err)
			}
		})
	}
}

// TestFileEngineConcurrent: many goroutines, each owning a region, write,
// read back and flush at once; more of them than the ring has entries, so
// backpressure is exercised too. The ring runs with each set of setup
// flags newUring may fall back to on an older kernel.
func TestFileEngineConcurrent(t *testing.T) {
	for _, c := range []struct {
		name   string
		engine IOEngine
		flags  []uint32 // the ring's setup flags to try; nil: newUring's
	}{
		{"psync", IOEnginePsync, nil},
		{"uring", IOEngineURing, nil},
		{"uring-coop-taskrun", IOEngineURing, []uint32{uringSetupCoopTaskrun}},
		{"uring-no-flags", IOEngineURing, []uint32{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.flags != nil {
				defer func(open func(uint32) (*uring, error)) { uringOpen = open }(uringOpen)
				uringOpen = func(n uint32) (*uring, error) { return newUringFlags(n, c.flags...) }
			}
			d := engineFile(t, diskDir(t), 32<<20, c.engine)
			if c.flags != nil && d.ring.setupFlags&^uringSetupClamp != 0 && len(c.flags) == 0 {
				t.Fatalf("ring set up with flags %#x, want none beyond CLAMP", d.ring.setupFlags)
			}
			workers := 2*uringEntries + 3
			const rounds = 8
			sec := d.SectorSize()
			region := d.Size() / int64(workers) / int64(sec) * int64(sec)
			var wg sync.WaitGroup
			errs := make(chan string, workers*rounds)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got := Alloc(4096)
					for r := range rounds {
						data := stamp(4096, sec, uint64(w)<<40|uint64(r)<<32)
						at := int64(w)*region + int64(r%4)*4096
						if _, err := d.WriteAt(data, at); err != nil {
							errs <- err.Error()
							return
						}
						if _, err := d.ReadAt(got, at); err != nil {
							errs <- err.Error()
							return
						}
						if !bytes.Equal(got, data) {
							errs <- fmt.Sprintf("worker %d round %d: read back differs", w, r)
						}
						if r%4 == 3 {
							if err := d.Flush(); err != nil {
								errs <- err.Error()
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// TestFileEngineCloseInFlight: Close while IO is in flight waits for it;
// every call either completes or fails with ErrClosed, none hangs.
func TestFileEngineCloseInFlight(t *testing.T) {
	for _, e := range fileEngines {
		t.Run(string(e), func(t *testing.T) {
			dir := diskDir(t)
			d, err := Open(filepath.Join(dir, "close.img"), Options{Size: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.SetIOEngine(e); err != nil {
				d.Close()
				t.Skipf("SetIOEngine: %v", err)
			}
			var wg sync.WaitGroup
			started := make(chan struct{}, 64)
			bad := make(chan error, 64)
			for w := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := Alloc(64 << 10)
					for i := 0; ; i++ {
						_, err := d.WriteAt(buf, int64(w)*(256<<10)+int64(i%4)*(64<<10))
						if i == 0 {
							started <- struct{}{}
						}
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil {
							bad <- err
							return
						}
					}
				}()
			}
			for range 64 {
				<-started
			}
			if err := d.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wg.Wait()
			close(bad)
			for err := range bad {
				t.Errorf("IO racing Close failed with %v, want success or ErrClosed", err)
			}
		})
	}
}

// TestURingSmallRingBackpressure: a ring of 4 entries serves 100 concurrent
// requests: callers beyond the ring wait for a free entry.
func TestURingSmallRingBackpressure(t *testing.T) {
	r, err := newUring(4)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if len(r.slots) > 4 {
		t.Fatalf("%d slots for a ring of 4", len(r.slots))
	}
	var wg sync.WaitGroup
	var bad sync.Map
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := r.do(uringOpNop, -1, 0, 0, 0, 0); err != nil || res != 0 {
				bad.Store(i, fmt.Sprintf("nop = %d, %v", res, err))
			}
		}()
	}
	wg.Wait()
	bad.Range(func(k, v any) bool { t.Errorf("request %v: %v", k, v); return true })
	if n := r.inflight.Load(); n != 0 {
		t.Errorf("%d requests still counted in flight", n)
	}
	if err := r.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.do(uringOpNop, -1, 0, 0, 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("do after close = %v, want ErrClosed", err)
	}
	if err := r.close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second close = %v, want ErrClosed", err)
	}
}

// TestURingBadRequest: a request the kernel rejects completes with -errno
// rather than failing the ring (a read on a closed descriptor: EBADF).
func TestURingBadRequest(t *testing.T) {
	r, err := newUring(8)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer r.close()
	buf := Alloc(4096)
	res, err := r.do(uringOpRead, 1<<20, uintptrOf(buf), 4096, 0, 0)
	if err != nil || res != -int32(unix.EBADF) {
		t.Errorf("read on a bad descriptor = %d, %v; want -EBADF", res, err)
	}
	if res, err := r.do(uringOpNop, -1, 0, 0, 0, 0); err != nil || res != 0 {
		t.Errorf("nop after a failed request = %d, %v", res, err)
	}
}

// TestURingBroken: when io_uring_enter itself fails (here: the ring's
// descriptor number now names /dev/null), queued requests fail with an
// error instead of hanging, and so does every later one.
func TestURingBroken(t *testing.T) {
	r, err := newUring(8)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	saved, err := unix.Dup(r.fd) // keeps the ring alive
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	// The ring thread's next io_uring_enter, on /dev/null, fails with
	// EOPNOTSUPP.
	if err := unix.Dup2(int(null.Fd()), r.fd); err != nil {
		t.Fatal(err)
	}
	null.Close()
	_, err = r.do(uringOpNop, -1, 0, 0, 0, 0)
	if err == nil || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("do on a broken ring = %v, want an error wrapping EOPNOTSUPP", err)
	}
	_, err = r.do(uringOpNop, -1, 0, 0, 0, 0)
	if err == nil {
		t.Errorf("second do on a broken ring succeeded")
	}
	if err := unix.Dup2(saved, r.fd); err != nil { // the ring back, for close
		t.Fatal(err)
	}
	unix.Close(saved)
	if err := r.close(); err != nil {
		t.Fatal(err)
	}
}

func TestParseIOEngine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want IOEngine
		ok   bool
	}{{"", IOEngineAuto, true}, {"auto", IOEngineAuto, true}, {"uring", IOEngineURing, true},
		{"psync", IOEnginePsync, true}, {"libaio", "", false}, {"URING", "", false}} {
		got, err := ParseIOEngine(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseIOEngine(%q) = %q, %v", c.in, got, err)
		}
	}
}

// TestSetIOEngineSwitches: auto picks uring here, psync switches back, and
// the data is the same file whichever path wrote it.
func TestSetIOEngineSwitches(t *testing.T) {
	d := engineFile(t, diskDir(t), 1<<20, IOEnginePsync)
	data := stamp(4096, d.SectorSize(), 7)
	mustWrite(t, d, data, 0)
	got, err := d.SetIOEngine(IOEngineAuto)
	if err != nil || (got != IOEngineURing && got != IOEnginePsync) {
		t.Fatalf("SetIOEngine(auto) = %s, %v", got, err)
	}
	if !bytes.Equal(mustRead(t, d, 0, 4096), data) {
		t.Errorf("%s reads something else than psync wrote", got)
	}
	if got, err := d.SetIOEngine(IOEnginePsync); err != nil || got != IOEnginePsync || d.ring != nil {
		t.Errorf("SetIOEngine(psync) = %s, %v", got, err)
	}
	if _, err := d.SetIOEngine("libaio"); err == nil {
		t.Errorf("SetIOEngine(libaio) succeeded")
	}
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// TestIOEngineFallback: where io_uring cannot be set up (ENOSYS, EPERM),
// auto falls back to psync and still does IO; uring fails with the cause.
func TestIOEngineFallback(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOSYS, unix.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			saved := uringOpen
			uringOpen = func(uint32) (*uring, error) { return nil, fmt.Errorf("device: io_uring_setup: %w", errno) }
			defer func() { uringOpen = saved }()
			d := engineFile(t, diskDir(t), 1<<20, IOEnginePsync)
			if got, err := d.SetIOEngine(IOEngineURing); !errors.Is(err, errno) || got != IOEnginePsync {
				t.Errorf("SetIOEngine(uring) = %s, %v; want psync and %v", got, err, errno)
			}
			got, err := d.SetIOEngine(IOEngineAuto)
			if err != nil || got != IOEnginePsync || d.Info().IOEngine != "psync" {
				t.Fatalf("SetIOEngine(auto) = %s, %v; want psync", got, err)
			}
			data := stamp(4096, d.SectorSize(), 3)
			mustWrite(t, d, data, 4096)
			if !bytes.Equal(mustRead(t, d, 4096, 4096), data) {
				t.Errorf("psync fallback reads back something else")
			}
		})
	}
}

// TestFileLoneRequestSkipsRing: with the uring engine, a read or write made
// while no more than directMax are in progress is a plain pread/pwrite (no
// SQE is queued); with ringAlways, or directMax 0, it goes through the
// ring.
func TestFileLoneRequestSkipsRing(t *testing.T) {
	for _, fp := range filePaths[1:] {
		for _, directMax := range []int32{-1, 0} { // -1: as SetIOEngine set it
			t.Run(fmt.Sprintf("%s/%d", fp.name, directMax), func(t *testing.T) {
				d := fp.open(t, diskDir(t), 1<<20)
				if directMax >= 0 {
					d.directMax = directMax
				}
				buf := stamp(4096, d.SectorSize(), 7)
				mustWrite(t, d, buf, 8192)
				if got := mustRead(t, d, 8192, 4096); !bytes.Equal(got, buf) {
					t.Fatal("read back differs")
				}
				want := uint64(0)
				if fp.always || directMax == 0 {
					want = 2
				}
				d.ring.mu.Lock()
				n := d.ring.requests
				d.ring.mu.Unlock()
				if n != want {
					t.Errorf("%d requests through the ring after a lone write and read, want %d", n, want)
				}
				if n := d.ringActive.Load(); n != 0 {
					t.Errorf("%d requests still counted in progress", n)
				}
			})
		}
	}
}

// TestFileDirectWaitsForRing: while the ring has a request in flight (here
// a read of an empty pipe), even a lone write goes through the ring, so
// that direct calls and the ring do not take turns at one queue depth.
func TestFileDirectWaitsForRing(t *testing.T) {
	d := engineFile(t, diskDir(t), 1<<20, IOEngineURing)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	one := make([]byte, 1)
	read := make(chan int32, 1)
	go func() {
		res, err := d.ring.do(uringOpRead, int32(pr.Fd()), uintptrOf(one), 1, ^uint64(0), 0)
		if err != nil {
			res = -1
		}
		read <- res
	}()
	for d.ring.inflight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	buf := stamp(4096, d.SectorSize(), 5)
	mustWrite(t, d, buf, 0)
	d.ring.mu.Lock()
	n := d.ring.requests
	d.ring.mu.Unlock()
	if n != 2 {
		t.Errorf("%d requests through the ring, want 2 (the pipe read and the write)", n)
	}
	if _, err := pw.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if res := <-read; res != 1 {
		t.Errorf("pipe read through the ring = %d, want 1", res)
	}
	runtime.KeepAlive(one)
}

// TestFileDirectFollowsProcs: the uring engine serves up to GOMAXPROCS
// requests in progress with direct calls, and those are raw system calls
// only when other Ps can run everything else while one blocks its own.
func TestFileDirectFollowsProcs(t *testing.T) {
	for _, procs := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			d := engineFile(t, diskDir(t), 1<<20, IOEngineURing)
			if want := procs > 1; d.directRaw != want || d.directMax != int32(procs) {
				t.Errorf("GOMAXPROCS %d: directRaw %v, directMax %d; want %v, %d", procs, d.directRaw, d.directMax, want, procs)
			}
			buf := stamp(4096, d.SectorSize(), 3)
			mustWrite(t, d, buf, 4096)
			if got := mustRead(t, d, 4096, 4096); !bytes.Equal(got, buf) {
				t.Fatal("read back differs")
			}
			if got := d.Info().IOSetup; got != d.ring.setupNames() || got == "" {
				t.Errorf("uring: Info().IOSetup %q, want the ring's setup names %q", got, d.ring.setupNames())
			}
			if _, err := d.SetIOEngine(IOEnginePsync); err != nil || d.directRaw || d.directMax != 0 {
				t.Errorf("psync: directRaw %v, directMax %d, err %v", d.directRaw, d.directMax, err)
			}
			if got := d.Info().IOSetup; got != "" {
				t.Errorf("psync: Info().IOSetup %q, want none", got)
			}
		})
	}
}

// TestProcsFor: psync gets GOMAXPROCS raised for its blocked callers, uring
// to at least uringMinProcs for its ring thread, and both restore it after.
func TestProcsFor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		engine IOEngine
		procs  int // before
		qd     int
		want   int
	}{
		{IOEnginePsync, 2, 32, 32 + runtime.NumCPU()},
		{IOEnginePsync, 2, 1, max(1+runtime.NumCPU(), 2)},
		{IOEngineURing, 2, 32, 2},
		{IOEngineURing, 1, 32, uringMinProcs},
		{IOEngineURing, 3, 1, 3},
	} {
		runtime.GOMAXPROCS(tc.procs)
		restore := ProcsFor(tc.engine, tc.qd)
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("%s GOMAXPROCS %d qd %d: GOMAXPROCS %d, want %d", tc.engine, tc.procs, tc.qd, got, tc.want)
		}
		restore()
		if got := runtime.GOMAXPROCS(0); got != tc.procs {
			t.Errorf("%s GOMAXPROCS %d qd %d: GOMAXPROCS %d after restore", tc.engine, tc.procs, tc.qd, got)
		}
	}
}

// TestURingSetupFlags: newUring asks for SINGLE_ISSUER|DEFER_TASKRUN and
// gets it from a kernel that has it (6.1 on), else COOP_TASKRUN (5.19 on);
// setup flags a kernel refuses (here bits no kernel defines) are dropped
// in turn, and that ring works.
func TestURingSetupFlags(t *testing.T) {
	r, err := newUring(8)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer r.close()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	release := unix.ByteSliceToString(u.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	deferred := uint32(uringSetupSingleIssuer | uringSetupDeferTaskrun)
	switch {
	case major > 6 || major == 6 && minor >= 1:
		if r.setupFlags&deferred != deferred {
			t.Errorf("kernel %d.%d: ring set up with flags %#x, without SINGLE_ISSUER|DEFER_TASKRUN", major, minor, r.setupFlags)
		}
	case major == 6 || major == 5 && minor >= 19:
		if r.setupFlags&uringSetupCoopTaskrun == 0 {
			t.Errorf("kernel %d.%d: ring set up with flags %#x, without COOP_TASKRUN", major, minor, r.setupFlags)
		}
	}

	if r.setupFlags&deferred == deferred && r.setupNames() != "single_issuer,defer_taskrun" {
		t.Errorf("setup names %q, want single_issuer,defer_taskrun", r.setupNames())
	}
	for _, c := range []struct {
		name     string
		prefer   []uint32
		want     uint32
		wantName string // Info.IOSetup
	}{
		{"unknown, then none", []uint32{1 << 30}, uringSetupClamp, "none"},
		{"unknown, then COOP_TASKRUN", []uint32{1 << 30, 1 << 29, uringSetupCoopTaskrun}, uringSetupClamp | uringSetupCoopTaskrun, "coop_taskrun"},
	} {
		t.Run(c.name, func(t *testing.T) {
			old, err := newUringFlags(8, c.prefer...)
			if err != nil {
				t.Fatalf("unknown setup flags were not dropped: %v", err)
			}
			defer old.close()
			if c.want&uringSetupCoopTaskrun != 0 && old.setupFlags&uringSetupCoopTaskrun == 0 {
				t.Skipf("kernel %d.%d has no COOP_TASKRUN", major, minor)
			}
			if old.setupFlags != c.want {
				t.Errorf("fallback ring set up with flags %#x, want %#x", old.setupFlags, c.want)
			}
			if got := old.setupNames(); got != c.wantName {
				t.Errorf("setup names %q, want %q", got, c.wantName)
			}
			if res, err := old.do(uringOpNop, -1, 0, 0, 0, 0); err != nil || res != 0 {
				t.Errorf("nop on the fallback ring = %d, %v", res, err)
			}
		})
	}
}
