package device

// Tests that need root: loop devices, and a ramfs mount for the O_DIRECT
// fallback. They skip cleanly otherwise. Every test works on its own loop
// device and backing file, so they can run while other packages attach loops
// of their own.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mounts): run the tests as root to include it")
	}
}

func requireLoop(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop driver: %v", err)
	}
}

// attachLoop attaches a new sparse backing file of size bytes and detaches
// it when the test ends.
func attachLoop(t *testing.T, size int64, opts LoopOptions) (*Loop, string) {
	t.Helper()
	backing := filepath.Join(diskDir(t), "loop.img")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, size); err != nil {
		t.Fatal(err)
	}
	// sysfs shows the backing file's resolved path.
	backing, err := filepath.EvalSymlinks(backing)
	if err != nil {
		t.Fatal(err)
	}
	l, err := AttachLoop(backing, opts)
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("root without the right to attach loop devices (a container?): %v", err)
	}
	if err != nil {
		t.Fatalf("AttachLoop: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Detach(); err != nil {
			t.Errorf("Detach %s: %v", l.Path, err)
		}
	})
	return l, backing
}

// loopAttached reports whether the kernel still binds a backing file to the
// loop device at path.
func loopAttached(path string) bool {
	_, err := os.Stat(filepath.Join("/sys/block", filepath.Base(path), "loop/backing_file"))
	return err == nil
}

// waitFor polls cond until it holds or timeout passes. It waits on the kernel
// and udev, which may briefly hold a device open, never on this process.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); ; {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listed(t *testing.T, name string) (BlockDevice, bool) {
	t.Helper()
	devs, err := List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, d := range devs {
		if d.Name == name {
			return d, true
		}
	}
	return BlockDevice{}, false
}

func TestAttachLoopNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root")
	}
	_, err := AttachLoop(filepath.Join(t.TempDir(), "x"), LoopOptions{})
	wantErr(t, "AttachLoop", err, ErrNotRoot)
}

func TestLoopDevice(t *testing.T) {
	requireLoop(t)
	const size = 64 << 20
	for _, bs := range []int{512, 4096} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			l, backing := attachLoop(t, size, LoopOptions{BlockSize: bs})
			if !regexp.MustCompile(`^/dev/loop[0-9]+$`).MatchString(l.Path) || l.Backing != backing {
				t.Errorf("Loop = %+v", l)
			}
			// The loop driver can do direct IO to the backing file when its
			// blocks are at least the backing file system's DIO alignment.
			if align, _ := fileDIOAlign(backing); !l.DirectIO && bs >= align {
				t.Errorf("the loop driver does not do direct IO to %s (alignment %d)", backing, align)
			}
			d, err := Open(l.Path, Options{})
			if err != nil {
				t.Fatalf("Open %s: %v", l.Path, err)
			}
			defer d.Close()

			info := d.Info()
			if info.Kind != KindBlock || info.Path != l.Path || info.Size != size || d.Size() != size {
				t.Errorf("Info = %+v", info)
			}
			if info.LogicalSector != bs || d.SectorSize() != bs || info.MemAlign != bs {
				t.Errorf("sectors: logical %d, SectorSize %d, MemAlign %d; want %d", info.LogicalSector, d.SectorSize(), info.MemAlign, bs)
			}
			if p := info.PhysicalSector; p < bs || p&(p-1) != 0 {
				t.Errorf("PhysicalSector = %d", p)
			}
			if !info.DirectIO || !openDirect(t, d) {
				t.Errorf("DirectIO = %v, descriptor O_DIRECT = %v", info.DirectIO, openDirect(t, d))
			}
			if info.Backing != backing || !info.Discard {
				t.Errorf("Backing = %q (want %q), Discard = %v", info.Backing, backing, info.Discard)
			}

			// Exclusive: a second writer is refused while d is open.
			if d2, err := Open(l.Path, Options{}); err == nil {
				d2.Close()
				t.Errorf("a second Open of %s succeeded while it is open exclusively", l.Path)
			} else {
				wantErr(t, "second Open", err, ErrRefused)
			}

			data := stamp(1<<20, bs, 1<<32)
			mustWrite(t, d, data, 8<<20)
			mustWrite(t, d, data[:bs], size-int64(bs))
			if err := d.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if !bytes.Equal(mustRead(t, d, 8<<20, 1<<20), data) {
				t.Errorf("read back differs")
			}
			raw, err := os.ReadFile(backing)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw[8<<20:9<<20], data) || !bytes.Equal(raw[size-bs:], data[:bs]) {
				t.Errorf("the writes did not reach the backing file")
			}
			if bs > 512 {
				_, err := d.WriteAt(Alloc(512), 0)
				wantErr(t, "512-byte write on a 4096-byte device", err, ErrUnaligned)
			}
			if err := d.Discard(8<<20, 256<<10); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			if err := d.Zero(8<<20+512<<10, 256<<10); err != nil {
				t.Fatalf("Zero: %v", err)
			}
			got := mustRead(t, d, 8<<20, 1<<20)
			if !allZero(got[:256<<10]) || !allZero(got[512<<10:768<<10]) {
				t.Errorf("discarded or zeroed range does not read as zeros")
			}
			if !bytes.Equal(got[256<<10:512<<10], data[256<<10:512<<10]) || !bytes.Equal(got[768<<10:], data[768<<10:]) {
				t.Errorf("data outside the discarded and zeroed ranges changed")
			}

			if bd, ok := listed(t, filepath.Base(l.Path)); !ok {
				t.Errorf("List does not show %s", l.Path)
			} else if bd.Size != size || bd.Backing != backing || bd.LogicalSector != bs {
				t.Errorf("List entry %+v", bd)
			}

			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.Detach(); err != nil {
				t.Fatalf("Detach: %v", err)
			}
			if err := l.Detach(); err != nil {
				t.Errorf("second Detach: %v", err)
			}
			if !waitFor(10*time.Second, func() bool { return !loopAttached(l.Path) }) {
				t.Errorf("%s is still attached after Detach", l.Path)
			}
		})
	}
}

func TestLoopExt4Refused(t *testing.T) {
	requireLoop(t)
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed (Debian: e2fsprogs)")
	}
	l, backing := attachLoop(t, 64<<20, LoopOptions{})
	name := filepath.Base(l.Path)
	if bd, ok := listed(t, name); !ok || len(bd.Refused) != 0 {
		t.Errorf("fresh loop device: listed %v, refused %q; want listed and accepted", ok, bd.Refused)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", l.Path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", l.Path, err, out)
	}

	_, err = Open(l.Path, Options{})
	wantErr(t, "Open", err, ErrRefused)
	if err == nil || !strings.Contains(err.Error(), "ext4") {
		t.Errorf("refusal %q does not name ext4", err)
	}
	reasons, err := Probe(l.Path)
	if err != nil || !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, "ext4") }) {
		t.Errorf("Probe = %q, %v; want a reason naming ext4", reasons, err)
	}
	bd, ok := listed(t, name)
	if !ok {
		t.Fatalf("List does not show %s", name)
	}
	if bd.Backing != backing || bd.Path != l.Path || !slices.ContainsFunc(bd.Refused, func(r string) bool { return strings.Contains(r, "ext4") }) {
		t.Errorf("List entry %+v; want backing %s and a refusal naming ext4", bd, backing)
	}

	d, err := Open(l.Path, Options{Force: true})
	if err != nil {
		t.Fatalf("Open with force: %v", err)
	}
	defer d.Close()
	if Signature(mustRead(t, d, 0, 128<<10)) == "" {
		t.Errorf("the forced device does not show its file system")
	}
}

// TestLoopPartitions: a disk with a partition table is refused, and a
// partition takes its facts (backing file, discard, rotational) from its disk.
func TestLoopPartitions(t *testing.T) {
	requireLoop(t)
	l, backing := attachLoop(t, 64<<20, LoopOptions{})
	// One partition from sector 2048 to the end, then ask for a scan.
	head := mbr(0, 0x83, 2048, 64<<20/512-2048)[:512]
	f, err := os.OpenFile(backing, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(head, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd := int(l.dev.Fd())
	st, err := unix.IoctlLoopGetStatus64(fd)
	if err != nil {
		t.Fatal(err)
	}
	st.Flags |= unix.LO_FLAGS_PARTSCAN
	if err := unix.IoctlLoopSetStatus64(fd, st); err != nil {
		t.Skipf("cannot enable partition scanning on %s: %v", l.Path, err)
	}
	name := filepath.Base(l.Path)
	partDev := filepath.Join("/sys/block", name, name+"p1", "dev")
	if _, err := os.Stat(partDev); err != nil {
		// The scan found nothing: a kernel without the MBR parser. Add the
		// partition by hand, as partx and addpart do.
		if err := addPartition(fd, 1, 2048*512, 64<<20-2048*512); err != nil {
			t.Skipf("no partition on %s after a scan, and BLKPG: %v", l.Path, err)
		}
	}
	if _, err := os.Stat(partDev); err != nil {
		t.Skipf("the kernel shows no partition for %s", l.Path)
	}

	reasons, err := Probe(l.Path)
	if err != nil || !slices.Contains(reasons, "has 1 partition(s)") || !slices.ContainsFunc(reasons, func(r string) bool { return strings.HasPrefix(r, "carries an MBR partition table") }) {
		t.Errorf("Probe = %q, %v", reasons, err)
	}
	_, err = Open(l.Path, Options{})
	wantErr(t, "Open of a partitioned disk", err, ErrRefused)

	var diskMaj, diskMin, partMaj, partMin uint32
	if _, err := fmt.Sscanf(readTrim(filepath.Join("/sys/block", name, "dev")), "%d:%d", &diskMaj, &diskMin); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(readTrim(partDev), "%d:%d", &partMaj, &partMin); err != nil {
		t.Fatal(err)
	}
	disk, part := sysfsInfo(diskMaj, diskMin), sysfsInfo(partMaj, partMin)
	if disk.backing != backing || part != disk {
		t.Errorf("sysfs facts: disk %+v, partition %+v; want the partition to share the disk's", disk, part)
	}

	node := "/dev/" + name + "p1"
	if _, err := os.Stat(node); errors.Is(err, os.ErrNotExist) {
		t.Logf("no device node %s (no devtmpfs?): not opening the partition", node)
		return
	}
	d, err := Open(node, Options{})
	if err != nil {
		t.Fatalf("Open %s: %v", node, err)
	}
	defer d.Close()
	if info := d.Info(); info.Size != (64<<20/512-2048)*512 || info.Backing != backing || info.Discard != disk.discard {
		t.Errorf("partition Info = %+v", info)
	}
}

// addPartition adds partition pno of length bytes at start to the disk open
// at fd (BLKPG_ADD_PARTITION).
func addPartition(fd int, pno int32, start, length int64) error {
	part := unix.BlkpgPartition{Start: start, Length: length, Pno: pno}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	runtime.KeepAlive(&part)
	if errno != 0 {
		return errno
	}
	return nil
}

// TestOpenNoDirectIO mounts a ramfs, which refuses O_DIRECT, to check the
// fallback and that a refused create leaves no file behind.
func TestOpenNoDirectIO(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Skipf("cannot mount a ramfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	probe := filepath.Join(dir, "probe")
	if fd, err := unix.Open(probe, unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT, 0o644); err == nil {
		unix.Close(fd)
		t.Skip("this kernel's ramfs accepts O_DIRECT")
	}
	os.Remove(probe)

	path := filepath.Join(dir, "required.img")
	_, err := Open(path, Options{Size: 1 << 20})
	wantErr(t, "Open with direct IO required", err, ErrNoDirectIO)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Open left %s behind", path)
	}

	path = filepath.Join(dir, "preferred.img")
	d, err := Open(path, Options{Size: 1 << 20, Direct: DirectPreferred})
	if err != nil {
		t.Fatalf("Open with direct IO preferred: %v", err)
	}
	defer d.Close()
	if d.Info().DirectIO || openDirect(t, d) {
		t.Errorf("DirectIO = %v on a file system without O_DIRECT", d.Info().DirectIO)
	}
	data := stamp(64<<10, d.SectorSize(), 1<<32)
	mustWrite(t, d, data, 0)
	if !bytes.Equal(mustRead(t, d, 0, 64<<10), data) {
		t.Errorf("buffered fallback: read back differs")
	}
	d.Close()

	// An existing file: refused as well, and left as it was.
	_, err = Open(path, Options{})
	wantErr(t, "Open of an existing file", err, ErrNoDirectIO)
	if st, err := os.Stat(path); err != nil || st.Size() != 1<<20 {
		t.Errorf("the existing file changed: %v", err)
	}
}

// TestLoopOffset: a loop device with an offset and a size limit shows only
// that window of its backing file, and a misaligned window is refused.
func TestLoopOffset(t *testing.T) {
	requireLoop(t)
	const off, limit = 1 << 20, 8 << 20
	l, backing := attachLoop(t, 16<<20, LoopOptions{Offset: off, SizeLimit: limit})
	if l.Offset != off || l.SizeLimit != limit {
		t.Errorf("Loop = %+v; want offset %d size limit %d", l, off, limit)
	}
	d, err := Open(l.Path, Options{})
	if err != nil {
		t.Fatalf("Open %s: %v", l.Path, err)
	}
	defer d.Close()
	if d.Size() != limit {
		t.Errorf("loop device of %d bytes; want the size limit %d", d.Size(), limit)
	}
	data := stamp(64<<10, d.SectorSize(), 1<<32)
	mustWrite(t, d, data, 0)
	mustWrite(t, d, data[:4096], limit-4096)
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	if !allZero(raw[:off]) {
		t.Errorf("the write reached the backing file before the offset")
	}
	if !bytes.Equal(raw[off:off+64<<10], data) || !bytes.Equal(raw[off+limit-4096:off+limit], data[:4096]) {
		t.Errorf("the writes did not land at offset %d of the backing file", off)
	}
	if !allZero(raw[off+limit:]) {
		t.Errorf("the write reached the backing file past the size limit")
	}

	for _, bad := range []LoopOptions{{Offset: 100}, {SizeLimit: 1000}, {Offset: -512}, {BlockSize: 4096, Offset: 512}} {
		if l, err := AttachLoop(backing, bad); err == nil {
			l.Detach()
			t.Errorf("AttachLoop with %+v succeeded", bad)
		} else {
			wantErr(t, fmt.Sprintf("AttachLoop with %+v", bad), err, ErrBadSize)
		}
	}
}

// TestBackingFileRefused: a regular file a loop device serves is in use:
// Probe names the loop device, Open refuses to write it (nothing written)
// unless Force, and reading it stays allowed. Once detached it is accepted.
func TestBackingFileRefused(t *testing.T) {
	requireLoop(t)
	l, backing := attachLoop(t, 8<<20, LoopOptions{})
	// Another name for the same file is the same file.
	alias := filepath.Join(filepath.Dir(backing), "alias.img")
	if err := os.Link(backing, alias); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{backing, alias} {
		if got := LoopsOver(p); len(got) != 1 || got[0] != l.Path {
			t.Errorf("LoopsOver(%s) = %q, want [%s]", p, got, l.Path)
		}
		reasons, err := Probe(p)
		if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "backs loop device "+l.Path) {
			t.Errorf("Probe(%s) = %q, %v; want the loop device", p, reasons, err)
		}
		before := fileSum(t, p)
		if d, err := Open(p, Options{}); !errors.Is(err, ErrRefused) || !strings.Contains(fmt.Sprint(err), l.Path) {
			if d != nil {
				d.Close()
			}
			t.Errorf("Open(%s) = %v, want refused naming %s", p, err, l.Path)
		}
		if fileSum(t, p) != before {
			t.Errorf("a refused Open changed %s", p)
		}
		d, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			t.Errorf("read-only Open(%s): %v", p, err)
		} else {
			d.Close()
		}
		d, err = Open(p, Options{Force: true})
		if err != nil {
			t.Errorf("Open(%s, Force): %v", p, err)
		} else {
			d.Close()
		}
	}
	if err := l.Detach(); err != nil {
		t.Fatal(err)
	}
	if got := LoopsOver(backing); len(got) != 0 {
		t.Errorf("LoopsOver after Detach = %q", got)
	}
	d, err := Open(backing, Options{})
	if err != nil {
		t.Fatalf("Open after Detach: %v", err)
	}
	d.Close()
}
