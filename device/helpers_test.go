package device

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// stamp fills an aligned buffer of n bytes so that every 8-byte word of
// sector i holds tag+i: sectors are told apart and torn sectors show.
func stamp(n, sector int, tag uint64) []byte {
	p := Alloc(n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], tag+uint64(i/sector))
	}
	return p
}

// sectorTag decodes a sector written by stamp: its tag (0 for zeros) and
// whether every word agrees (false: a torn or foreign sector).
func sectorTag(s []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(s)
	for i := 8; i < len(s); i += 8 {
		if binary.LittleEndian.Uint64(s[i:]) != v {
			return v, false
		}
	}
	return v, true
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

// mustRead reads n bytes at off or fails the test.
func mustRead(t testing.TB, d Device, off int64, n int) []byte {
	t.Helper()
	p := Alloc(n)
	for i := range p {
		p[i] = 0xee // so that a read that writes nothing shows
	}
	if got, err := d.ReadAt(p, off); err != nil || got != n {
		t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
	}
	return p
}

func mustWrite(t testing.TB, d Device, p []byte, off int64) {
	t.Helper()
	if got, err := d.WriteAt(p, off); err != nil || got != len(p) {
		t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, got, err)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want one wrapping %v", what, err, want)
	}
}

// memoryFS reports whether dir is on a file system kept in memory, where
// O_DIRECT is either refused or meaningless.
func memoryFS(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	typ := uint32(st.Type) // its width differs between architectures
	return typ == unix.TMPFS_MAGIC || typ == unix.RAMFS_MAGIC
}

// diskDir returns a fresh temporary directory on a disk-backed file system:
// t.TempDir() ($TMPDIR) unless that is tmpfs, else one under /var/tmp. It
// skips the test when neither is on disk.
func diskDir(t testing.TB) string {
	t.Helper()
	if dir := t.TempDir(); !memoryFS(dir) {
		return dir
	}
	dir, err := os.MkdirTemp("/var/tmp", "snapbench-device-test-")
	if err != nil || memoryFS(dir) {
		if err == nil {
			os.RemoveAll(dir)
		}
		t.Skipf("no disk-backed temporary directory ($TMPDIR and /var/tmp are in memory)")
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// openDirect reports whether the file descriptor behind a File has O_DIRECT.
func openDirect(t testing.TB, d *File) bool {
	t.Helper()
	fl, err := unix.FcntlInt(d.f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("F_GETFL: %v", err)
	}
	return fl&unix.O_DIRECT != 0
}

// newFile opens a new sparse file of size bytes in dir.
func newFile(t testing.TB, dir string, size int64) *File {
	t.Helper()
	d, err := Open(filepath.Join(dir, "dev.img"), Options{Size: size})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// plain hides every optional interface of a device (Discarder, Zeroer,
// Describer, Wrapper).
type plain struct{ Device }
