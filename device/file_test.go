package device

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// ext4Head returns n bytes carrying an ext4 superblock magic.
func ext4Head(n int) []byte {
	b := make([]byte, n)
	copy(b[0x438:], "\x53\xef")
	return b
}

func TestOpenErrors(t *testing.T) {
	dir := diskDir(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty", nil)
	small := write("small", make([]byte, 64<<10))
	odd := write("odd", make([]byte, 1000))
	ext4 := write("ext4", ext4Head(1<<20))
	cases := []struct {
		name string
		path string
		opts Options
		want error
	}{
		{"missing, no size", filepath.Join(dir, "missing"), Options{}, ErrNotFound},
		{"missing, negative size", filepath.Join(dir, "missing"), Options{Size: -4096}, ErrNotFound},
		{"directory", dir, Options{Size: 1 << 20}, ErrNotDevice},
		{"character device", "/dev/null", Options{}, ErrNotDevice},
		{"empty file, no size", empty, Options{}, ErrBadSize},
		{"existing, negative size", empty, Options{Size: -4096}, ErrBadSize},
		{"existing size not a sector multiple", odd, Options{}, ErrBadSize},
		{"new size not a sector multiple", filepath.Join(dir, "new-odd"), Options{Size: 1<<20 + 100}, ErrBadSize},
		{"existing, size not a sector multiple", small, Options{Size: 1<<20 + 100}, ErrBadSize},
		{"read-only, larger than file", small, Options{Size: 1 << 20, ReadOnly: true}, ErrBadSize},
		{"ext4 signature", ext4, Options{}, ErrRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before []byte
			if st, err := os.Stat(c.path); err == nil && st.Mode().IsRegular() {
				before, _ = os.ReadFile(c.path)
			}
			d, err := Open(c.path, c.opts)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%s, %+v) succeeded, want %v", c.path, c.opts, c.want)
			}
			wantErr(t, "Open", err, c.want)
			if !strings.HasPrefix(err.Error(), "device: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			// A refused or failed open writes nothing and leaves nothing behind.
			after, statErr := os.ReadFile(c.path)
			switch {
			case before == nil && statErr == nil && c.path != dir && c.path != "/dev/null":
				t.Errorf("failed Open left %s behind", c.path)
			case before != nil && !bytes.Equal(before, after):
				t.Errorf("failed Open changed %s", c.path)
			}
		})
	}
}

func TestOpenExt4FileRefusedUnlessForced(t *testing.T) {
	path := filepath.Join(diskDir(t), "fs.img")
	if err := os.WriteFile(path, ext4Head(1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	wantErr(t, "Open without force", err, ErrRefused)
	if err == nil || !strings.Contains(err.Error(), "ext4") {
		t.Errorf("refusal %q does not name ext4", err)
	}
	d, err := Open(path, Options{Force: true})
	if err != nil {
		t.Fatalf("Open with force: %v", err)
	}
	defer d.Close()
	if d.Size() != 1<<20 {
		t.Errorf("Size = %d, want the file's %d", d.Size(), 1<<20)
	}
	head := mustRead(t, d, 0, 4096)
	if Signature(head) == "" {
		t.Errorf("forced open does not read the file's content")
	}
}

func TestOpenCreatesSparseAndExtends(t *testing.T) {
	path := filepath.Join(diskDir(t), "sparse.img")
	d, err := Open(path, Options{Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := stamp(64<<10, d.SectorSize(), 1000)
	mustWrite(t, d, data, 1<<20)
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	checkSparse := func(wantSize int64) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != wantSize {
			t.Errorf("file size %d, want %d", st.Size, wantSize)
		}
		if used := st.Blocks * 512; used > 4<<20 {
			t.Errorf("file uses %d bytes on disk for %d written: not sparse", used, len(data))
		}
	}
	checkSparse(64 << 20)

	d, err = Open(path, Options{Size: 128 << 20})
	if err != nil {
		t.Fatalf("reopen to extend: %v", err)
	}
	if d.Size() != 128<<20 {
		t.Errorf("Size after extending = %d", d.Size())
	}
	if got := mustRead(t, d, 1<<20, len(data)); !bytes.Equal(got, data) {
		t.Errorf("data written before extending is gone")
	}
	if got := mustRead(t, d, 100<<20, 4096); !allZero(got) {
		t.Errorf("extended tail does not read as zeros")
	}
	d.Close()
	checkSparse(128 << 20)

	for _, c := range []struct {
		size, want int64
	}{{0, 128 << 20}, {32 << 20, 32 << 20}} {
		d, err := Open(path, Options{Size: c.size})
		if err != nil {
			t.Fatalf("reopen with size %d: %v", c.size, err)
		}
		if d.Size() != c.want {
			t.Errorf("reopen with size %d: Size = %d, want %d", c.size, d.Size(), c.want)
		}
		d.Close()
	}
	checkSparse(128 << 20) // a smaller size uses a prefix, it never truncates
}

func TestOpenDirectIO(t *testing.T) {
	dir := diskDir(t)
	d := newFile(t, dir, 16<<20)
	info := d.Info()
	if !info.DirectIO || !openDirect(t, d) {
		t.Errorf("file on %s: Info().DirectIO = %v, O_DIRECT on the descriptor = %v; want both", dir, info.DirectIO, openDirect(t, d))
	}
	if info.Kind != KindFile || info.Size != 16<<20 || info.Path != filepath.Join(dir, "dev.img") {
		t.Errorf("Info = %+v", info)
	}
	if s := info.LogicalSector; s < 512 || s&(s-1) != 0 || s != d.SectorSize() {
		t.Errorf("LogicalSector = %d, SectorSize = %d", s, d.SectorSize())
	}
	if info.MemAlign < 1 || info.MemAlign > BufferAlign {
		t.Errorf("MemAlign = %d; Alloc's %d would not satisfy it", info.MemAlign, BufferAlign)
	}
	if !info.Discard {
		t.Errorf("files support discard (hole punching)")
	}

	for _, mode := range []DirectMode{DirectPreferred, DirectOff} {
		path := filepath.Join(dir, "mode.img")
		os.Remove(path)
		d, err := Open(path, Options{Size: 1 << 20, Direct: mode})
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		want := mode != DirectOff
		if d.Info().DirectIO != want || openDirect(t, d) != want {
			t.Errorf("mode %d: DirectIO = %v, descriptor O_DIRECT = %v, want %v", mode, d.Info().DirectIO, openDirect(t, d), want)
		}
		d.Close()
	}
}

func TestFileReadWrite(t *testing.T) {
	dir := diskDir(t)
	path := filepath.Join(dir, "rw.img")
	d, err := Open(path, Options{Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sec := d.SectorSize()
	cases := []struct {
		off int64
		n   int
	}{{0, sec}, {int64(sec), 4096}, {1 << 20, 1 << 20}, {8<<20 - int64(sec), sec}}
	for i, c := range cases {
		data := stamp(c.n, sec, uint64(i+1)<<32)
		mustWrite(t, d, data, c.off)
		if got := mustRead(t, d, c.off, c.n); !bytes.Equal(got, data) {
			t.Errorf("read back at %d differs from what was written", c.off)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// The writes went to the file itself.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if !bytes.Equal(raw[c.off:c.off+int64(c.n)], stamp(c.n, sec, uint64(i+1)<<32)) {
			t.Errorf("file content at %d is not what was written", c.off)
		}
	}
}

func TestFileIOErrors(t *testing.T) {
	d := newFile(t, diskDir(t), 1<<20)
	sec := d.SectorSize()
	size := d.Size()
	buf := Alloc(4 * sec)
	maxAligned := int64(math.MaxInt64/int64(sec)) * int64(sec)
	cases := []struct {
		name string
		p    []byte
		off  int64
		want error
	}{
		{"unaligned offset", buf[:sec], 1, ErrUnaligned},
		{"negative offset", buf[:sec], -int64(sec), ErrUnaligned},
		{"unaligned length", buf[:sec+1], 0, ErrUnaligned},
		{"past end", buf[:2*sec], size - int64(sec), ErrOutOfRange},
		{"at end", buf[:sec], size, ErrOutOfRange},
		{"overflowing offset", buf[:2*sec], maxAligned, ErrOutOfRange},
	}
	if d.Info().MemAlign > 1 {
		cases = append(cases, struct {
			name string
			p    []byte
			off  int64
			want error
		}{"unaligned buffer", buf[1 : 1+sec], 0, ErrUnaligned})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n, err := d.ReadAt(c.p, c.off); n != 0 || err == nil {
				t.Errorf("ReadAt = %d, %v", n, err)
			} else {
				wantErr(t, "ReadAt", err, c.want)
			}
			if n, err := d.WriteAt(c.p, c.off); n != 0 || err == nil {
				t.Errorf("WriteAt = %d, %v", n, err)
			} else {
				wantErr(t, "WriteAt", err, c.want)
			}
		})
	}
	wantErr(t, "Discard past end", d.Discard(size-int64(sec), 2*int64(sec)), ErrOutOfRange)
	wantErr(t, "Discard unaligned", d.Discard(1, int64(sec)), ErrUnaligned)
	wantErr(t, "Zero past end", d.Zero(0, size+int64(sec)), ErrOutOfRange)
}

func TestFileClosed(t *testing.T) {
	d := newFile(t, diskDir(t), 1<<20)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	p := Alloc(4096)
	_, err := d.ReadAt(p, 0)
	wantErr(t, "ReadAt", err, ErrClosed)
	_, err = d.WriteAt(p, 0)
	wantErr(t, "WriteAt", err, ErrClosed)
	wantErr(t, "Flush", d.Flush(), ErrClosed)
	wantErr(t, "Discard", d.Discard(0, 4096), ErrClosed)
	wantErr(t, "Zero", d.Zero(0, 4096), ErrClosed)
	wantErr(t, "second Close", d.Close(), ErrClosed)
}

func TestFileDiscardAndZero(t *testing.T) {
	dir := diskDir(t)
	d := newFile(t, dir, 4<<20)
	ops := []struct {
		name string
		do   func(off, n int64) error
	}{{"Discard", d.Discard}, {"Zero", d.Zero}, {"device.Zero", func(off, n int64) error { return Zero(d, off, n) }}}
	for i, op := range ops {
		data := stamp(1<<20, d.SectorSize(), uint64(i+1)<<40)
		mustWrite(t, d, data, 1<<20)
		if err := op.do(1<<20+64<<10, 128<<10); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		got := mustRead(t, d, 1<<20, 1<<20)
		if !allZero(got[64<<10 : 192<<10]) {
			t.Errorf("%s: range does not read as zeros", op.name)
		}
		if !bytes.Equal(got[:64<<10], data[:64<<10]) || !bytes.Equal(got[192<<10:], data[192<<10:]) {
			t.Errorf("%s: data outside the range changed", op.name)
		}
	}
}

func TestFileConcurrent(t *testing.T) {
	d := newFile(t, diskDir(t), 4<<20)
	const workers, rounds = 4, 50
	sec := d.SectorSize()
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(w) << 20 // each worker owns 1 MiB
			for r := range rounds {
				data := stamp(16<<10, sec, uint64(w)<<48|uint64(r)<<32)
				at := off + int64(r%16)*(16<<10)
				if _, err := d.WriteAt(data, at); err != nil {
					errs <- err.Error()
					return
				}
				got := Alloc(len(data))
				if _, err := d.ReadAt(got, at); err != nil {
					errs <- err.Error()
					return
				}
				if !bytes.Equal(got, data) {
					errs <- "worker read back something else than it wrote"
				}
				if r%10 == 0 {
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
}

// TestFileZeroAllocation: Zero on a sparse file allocates nothing (a hole
// punch, not FALLOC_FL_ZERO_RANGE, which would allocate the range); on a
// fully allocated file the range stays allocated, as on a device. Both
// read as zeros.
func TestFileZeroAllocation(t *testing.T) {
	const size, zeroOff, zeroLen = 64 << 20, 8 << 20, 48 << 20
	allocated := func(d *File) int64 {
		var st unix.Stat_t
		if err := unix.Fstat(int(d.f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "sparse", true: "allocated"}[full]
		t.Run(name, func(t *testing.T) {
			d := newFile(t, diskDir(t), size)
			if full {
				if err := unix.Fallocate(int(d.f.Fd()), 0, 0, size); err != nil {
					t.Skipf("fallocate: %v", err)
				}
			}
			mustWrite(t, d, stamp(1<<20, d.SectorSize(), 7), zeroOff)
			before := allocated(d)
			if err := d.Zero(zeroOff, zeroLen); err != nil {
				t.Fatal(err)
			}
			after := allocated(d)
			switch {
			case !full && after > before:
				t.Errorf("Zero of %d bytes on a sparse file allocated %d bytes more", zeroLen, after-before)
			case full && after < before:
				t.Errorf("Zero on an allocated file freed %d bytes", before-after)
			}
			if got := mustRead(t, d, zeroOff, 1<<20); !allZero(got) {
				t.Error("zeroed range does not read as zeros")
			}
		})
	}
}
