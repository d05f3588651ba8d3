package device

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The safety rules protect real disks. Before a block device is opened for
// writing, snapbench refuses it (unless forced) when:
//   - it, or a partition on it, is mounted or used as swap;
//   - it has holders (device-mapper, md, bcache... stacked on it);
//   - it has partitions;
//   - it carries a known signature (see Signature for the built-in list;
//     blkid -p, from util-linux, is asked too where it is installed).
// Existing regular files are checked for signatures too. A device holding a
// snapbench superblock is not refused here: it is snapbench's own (format
// and run refuse it themselves, through runner.RefuseFormatted). Opening
// read-only never refuses for a signature: reading destroys nothing.

// signature is a magic string at a fixed offset from the start of a device.
type signature struct {
	name  string
	off   int64
	magic string
}

// snapbenchMagic starts snapbench's own superblock (strategies), at offset 0.
const snapbenchMagic = "SNAPBNCH"

var signatures = []signature{
	{"an ext2/ext3/ext4 file system", 0x438, "\x53\xef"},
	{"an xfs file system", 0, "XFSB"},
	{"a btrfs file system", 0x10040, "_BHRfS_M"},
	{"a GPT partition table", 512, "EFI PART"},
	{"a GPT partition table", 4096, "EFI PART"},
	{"an LVM2 physical volume", 512 + 24, "LVM2 001"},
	{"an LVM2 physical volume", 0, "LABELONE"},
	{"an LVM2 physical volume", 512, "LABELONE"},
	{"an LVM2 physical volume", 1024, "LABELONE"},
	{"an LVM2 physical volume", 1536, "LABELONE"},
	{"a LUKS container", 0, "LUKS\xba\xbe"},
	{"a LUKS2 container", 0x4000, "SKUL\xba\xbe"}, // secondary header
	{"swap space", 4096 - 10, "SWAPSPACE2"},
	{"swap space", 4096 - 10, "SWAP-SPACE"},
	{"swap space", 65536 - 10, "SWAPSPACE2"}, // 64 KiB pages
	{"an iso9660 file system", 0x8001, "CD001"},
	{"an md RAID member (1.1 superblock)", 0, "\xfc\x4e\x2b\xa9"},
	{"an md RAID member (1.2 superblock)", 0x1000, "\xfc\x4e\x2b\xa9"},
	{"a ZFS pool member", 0x20000, "\x0c\xb1\xba\x00\x00\x00\x00\x00"}, // uberblock of label 0, little endian
	{"a ZFS pool member", 0x20000, "\x00\x00\x00\x00\x00\xba\xb1\x0c"}, // big endian
	{"a bcache device", 0x1000 + 24, "\xc6\x85\x73\xf6\x4e\x1a\x45\xca\x82\x65\xf5\x7f\x48\xba\x6d\x81"},
	{"a squashfs image", 0, "hsqs"},
	{"a squashfs image", 0, "sqsh"},
	{"a cramfs image", 0, "\x45\x3d\xcd\x28"},
	{"a cramfs image", 0, "\x28\xcd\x3d\x45"},
	{"a cramfs image", 512, "\x45\x3d\xcd\x28"},
	{"a bfs file system", 0, "\xce\xfa\xad\x1b"},
	{"a minix file system (v1)", 0x410, "\x7f\x13"},
	{"a minix file system (v1)", 0x410, "\x8f\x13"},
	{"a minix file system (v2)", 0x410, "\x68\x24"},
	{"a minix file system (v2)", 0x410, "\x78\x24"},
	{"a minix file system (v3)", 0x418, "\x5a\x4d"},
	{"an exFAT file system", 3, "EXFAT   "},
	{"an NTFS file system", 3, "NTFS    "},
	{"a FAT file system", 0x36, "FAT"},
	{"a FAT32 file system", 0x52, "FAT32"},
}

// probeLen is how much of the start of a device the signature probe reads.
const probeLen = 0x20000 + 4096

// tailLen is how much of the end of a device the probe reads (md 0.90 and
// 1.0 superblocks live there).
const tailLen = 128 << 10

// Signature returns a description of the first known signature in the
// leading bytes of a device or file (head must hold at least probeLen bytes
// where available), or "" when none is found. A head starting with
// snapbench's own superblock magic is reported as "a snapbench engine".
func Signature(head []byte) string {
	if len(head) >= len(snapbenchMagic) && string(head[:len(snapbenchMagic)]) == snapbenchMagic {
		return "a snapbench engine"
	}
	for _, s := range signatures {
		end := s.off + int64(len(s.magic))
		if end <= int64(len(head)) && string(head[s.off:end]) == s.magic {
			return s.name
		}
	}
	// An MBR: the boot signature plus at least one plausible partition entry.
	if len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa {
		for i := 0; i < 4; i++ {
			e := head[446+16*i : 446+16*(i+1)]
			if (e[0] == 0 || e[0] == 0x80) && e[4] != 0 && binary.LittleEndian.Uint32(e[12:]) != 0 {
				return "an MBR partition table"
			}
		}
	}
	return ""
}

// mdMagic is the md RAID superblock magic 0xa92b4efc, little endian.
const mdMagic = "\xfc\x4e\x2b\xa9"

// TailSignature returns a description of a known signature found in the
// last bytes of a device of size bytes (tail holds its last len(tail)
// bytes, at least tailLen where available), or "": md RAID 0.90 (64 KiB
// aligned, 64 KiB from the end) and 1.0 (4 KiB aligned, 8 KiB from the end)
// superblocks.
func TailSignature(tail []byte, size int64) string {
	start := size - int64(len(tail))
	at := func(off int64, magic string) bool {
		i := off - start
		return off >= 0 && i >= 0 && i+int64(len(magic)) <= int64(len(tail)) && string(tail[i:i+int64(len(magic))]) == magic
	}
	switch {
	case size >= 128<<10 && at(size&^(64<<10-1)-64<<10, mdMagic):
		return "an md RAID member (0.90 superblock)"
	case size >= 12<<10 && at((size-8192)&^4095, mdMagic):
		return "an md RAID member (1.0 superblock)"
	}
	return ""
}

// blkidPath is where blkid was found ("" when it is not installed); tests
// clear it to exercise the built-in probe alone.
var blkidPath, _ = exec.LookPath("blkid")

// BlkidAvailable reports whether signature probing also asks blkid.
func BlkidAvailable() bool { return blkidPath != "" }

// blkidProbe asks blkid for a low-level probe (-p: superblocks and partition
// tables, not the cache) of path and returns what it found, "" for nothing.
func blkidProbe(path string) (string, error) {
	if blkidPath == "" {
		return "", nil
	}
	out, err := exec.Command(blkidPath, "-p", "-o", "export", "--", path).Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return "", nil // nothing found
	case errors.As(err, &ee) && ee.ExitCode() == 8:
		return "several signatures (blkid: ambivalent probe result; wipefs -n lists them)", nil
	case err != nil:
		return "", fmt.Errorf("device: blkid -p %s: %w", path, err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	switch {
	case kv["TYPE"] != "" && kv["USAGE"] != "":
		return fmt.Sprintf("a %s signature (%s)", kv["TYPE"], kv["USAGE"]), nil
	case kv["TYPE"] != "":
		return fmt.Sprintf("a %s signature", kv["TYPE"]), nil
	case kv["PTTYPE"] != "":
		return fmt.Sprintf("a %s partition table", strings.ToUpper(kv["PTTYPE"])), nil
	}
	return "", nil
}

// probeSignatures reads the head and tail of path (read-only, buffered) and
// reports a foreign signature, if any, and who found it: the built-in list
// first, then blkid -p where installed. A device starting with snapbench's
// own superblock reports none: it is snapbench's (see RefuseFormatted in
// runner for the verbs that must not overwrite it).
func probeSignatures(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("device: probe %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	head := make([]byte, probeLen)
	n, err := f.ReadAt(head, 0)
	if n == 0 && err != nil {
		return "", nil // empty or unreadable head: nothing to protect
	}
	sig := Signature(head[:n])
	if sig == "a snapbench engine" {
		return "", nil
	}
	if sig == "" {
		if size, err := f.Seek(0, io.SeekEnd); err == nil && size > 0 {
			tail := make([]byte, min(size, tailLen))
			if m, _ := f.ReadAt(tail, size-int64(len(tail))); m == len(tail) {
				sig = TailSignature(tail, size)
			}
		}
	}
	if sig != "" {
		return sig + " (found by the built-in probe" + noBlkid() + ")", nil
	}
	sig, err = blkidProbe(path)
	if err != nil || sig == "" {
		return "", err
	}
	return sig + " (found by blkid -p)", nil
}

func noBlkid() string {
	if blkidPath == "" {
		return "; blkid is not installed, so only the common signatures are known"
	}
	return ""
}

// unwrapPath drops the *os.PathError around an error whose message the
// caller prefixes with the path already ("open X: open X: ...").
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Lock takes an advisory lock (flock) on path so that two snapbench
// processes never drive one device at once: shared when exclusive is false
// (readers: check, volume list, serve --read-only), exclusive for writers.
// It never blocks: a conflicting lock is refused with an error wrapping
// ErrRefused. unlock releases the lock (close of the lock's descriptor);
// the lock is also released when the process exits. Block devices opened
// for writing are in addition opened O_EXCL by Open, which the kernel
// enforces against every other opener (mounts, md, other programs).
func Lock(path string, exclusive bool) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("device: lock %s: %w", path, unwrapPath(err))
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is in use by another snapbench command (run, serve, format, volume or check)", ErrRefused, path)
		}
		return nil, fmt.Errorf("device: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// OpenLocked is Open under Lock: a shared lock when opts.ReadOnly, an
// exclusive one otherwise. The lock is taken before anything is written (a
// file that Open creates is locked right after its creation, before any
// other write). unlock releases it; call it after closing the device.
func OpenLocked(path string, opts Options) (dev *File, unlock func(), err error) {
	if _, err := os.Stat(path); err == nil {
		if unlock, err = Lock(path, !opts.ReadOnly); err != nil {
			return nil, nil, err
		}
		if dev, err = Open(path, opts); err != nil {
			unlock()
			return nil, nil, err
		}
		return dev, unlock, nil
	}
	if dev, err = Open(path, opts); err != nil {
		return nil, nil, err
	}
	if unlock, err = Lock(path, !opts.ReadOnly); err != nil {
		dev.Close()
		return nil, nil, err
	}
	return dev, unlock, nil
}

// Probe reports why the safety rules would refuse a block device or file
// (nil: it would be accepted). It only reads.
func Probe(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if st.Mode().IsRegular() {
		return fileRefusalReasons(path, st.Size())
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotDevice, path)
	}
	return refusalReasons(path), nil
}

// fileRefusalReasons lists everything that makes an existing regular file
// of size bytes unsafe to write: a loop device serving it, a signature.
func fileRefusalReasons(path string, size int64) ([]string, error) {
	var reasons []string
	if loops := LoopsOver(path); len(loops) > 0 {
		reasons = append(reasons, "backs loop device "+strings.Join(loops, ","))
	}
	if size == 0 {
		return reasons, nil
	}
	sig, err := probeSignatures(path)
	if err != nil {
		return nil, err
	}
	if sig != "" {
		reasons = append(reasons, "carries "+sig)
	}
	return reasons, nil
}

// LoopsOver lists the loop devices (/dev/loopN) whose backing file is the
// regular file at path, from /sys/block/loop*/loop/backing_file: a file a
// loop device serves is in use (mounted through it, perhaps), as a held
// block device is. A backing file deleted or renamed since it was attached
// is not found.
func LoopsOver(path string) []string {
	want, err := os.Stat(path)
	if err != nil || !want.Mode().IsRegular() {
		return nil
	}
	ents, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, f := range ents {
		st, err := os.Stat(readTrim(f))
		if err == nil && os.SameFile(st, want) {
			out = append(out, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	return out
}

// refusalReasons lists everything that makes a block device unsafe to write.
func refusalReasons(path string) []string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return []string{"cannot stat: " + err.Error()}
	}
	major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	var reasons []string
	devs := append([]string{fmt.Sprintf("%d:%d", major, minor)}, partitionsOf(major, minor)...)
	if len(devs) > 1 {
		reasons = append(reasons, fmt.Sprintf("has %d partition(s)", len(devs)-1))
	}
	mounts := mountedDevices()
	swaps := swapDevices()
	for _, d := range devs {
		if where, ok := mounts[d]; ok {
			reasons = append(reasons, fmt.Sprintf("mounted (%s) on %s", d, where))
		}
		if swaps[d] {
			reasons = append(reasons, fmt.Sprintf("in use as swap (%s)", d))
		}
		if h := holders(d); len(h) > 0 {
			reasons = append(reasons, fmt.Sprintf("held by %s", strings.Join(h, ",")))
		}
	}
	if sig, err := probeSignatures(path); err != nil {
		reasons = append(reasons, err.Error())
	} else if sig != "" {
		reasons = append(reasons, "carries "+sig)
	}
	return reasons
}

func joinReasons(r []string) string { return strings.Join(r, "; ") }

// partitionsOf returns the major:minor of every partition of a whole disk.
func partitionsOf(major, minor uint32) []string {
	dir := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var parts []string
	for _, e := range entries {
		dev, err := os.ReadFile(filepath.Join(dir, e.Name(), "dev"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err == nil {
			parts = append(parts, strings.TrimSpace(string(dev)))
		}
	}
	return parts
}

func holders(majmin string) []string {
	entries, err := os.ReadDir("/sys/dev/block/" + majmin + "/holders")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// mountedDevices maps "major:minor" to a mount point, from mountinfo.
func mountedDevices() map[string]string {
	m := make(map[string]string)
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 4 {
			if _, seen := m[f[2]]; !seen {
				m[f[2]] = f[4]
			}
		}
	}
	return m
}

func swapDevices() map[string]bool {
	m := make(map[string]bool)
	data, err := os.ReadFile("/proc/swaps")
	if err != nil {
		return m
	}
	lines := strings.Split(string(data), "\n")
	for _, l := range lines[min(1, len(lines)):] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(f[0], &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			m[fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))] = true
		}
	}
	return m
}
