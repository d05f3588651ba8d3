package device

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The safety rules protect real disks. Before a block device is opened for
// writing, snapbench refuses it (unless forced) when:
//   - it, or a partition on it, is mounted or used as swap;
//   - it has holders (device-mapper, md, bcache... stacked on it);
//   - it has partitions;
//   - it carries a known signature: a file system (ext2/3/4, xfs, btrfs,
//     vfat/exfat/ntfs, iso9660), an MBR or GPT partition table, an LVM
//     physical volume, an md RAID superblock, LUKS, or swap.
// Existing regular files are checked for signatures too. A device holding a
// snapbench superblock is not refused: it is snapbench's own.

// signature is a magic string at a fixed offset.
type signature struct {
	name  string
	off   int64
	magic string
}

var signatures = []signature{
	{"an ext2/ext3/ext4 file system", 0x438, "\x53\xef"},
	{"an xfs file system", 0, "XFSB"},
	{"a btrfs file system", 0x10040, "_BHRfS_M"},
	{"a GPT partition table", 512, "EFI PART"},
	{"a GPT partition table", 4096, "EFI PART"},
	{"an LVM physical volume", 512 + 24, "LVM2 001"},
	{"an LVM physical volume", 512, "LABELONE"},
	{"a LUKS container", 0, "LUKS\xba\xbe"},
	{"swap space", 4096 - 10, "SWAPSPACE2"},
	{"swap space", 4096 - 10, "SWAP-SPACE"},
	{"an iso9660 file system", 0x8001, "CD001"},
	{"an md RAID member", 0x1000, "\xfc\x4e\x2b\xa9"},
	{"an exFAT file system", 3, "EXFAT   "},
	{"an NTFS file system", 3, "NTFS    "},
	{"a FAT file system", 0x36, "FAT"},
	{"a FAT32 file system", 0x52, "FAT32"},
}

// probeLen is how much of the start of a device the signature probe reads.
const probeLen = 128 << 10

// Signature returns a description of the first known signature in the
// leading bytes of a device or file (head must hold at least probeLen bytes
// where available), or "" when none is found.
func Signature(head []byte) string {
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

// probeSignatures reads the head of path (read-only, buffered) and reports a
// signature, if any.
func probeSignatures(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("device: probe %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, probeLen)
	n, err := f.ReadAt(head, 0)
	if n == 0 && err != nil {
		return "", nil // empty or unreadable head: nothing to protect
	}
	return Signature(head[:n]), nil
}

// Probe reports why the safety rules would refuse a block device or file
// (nil: it would be accepted). It only reads.
func Probe(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if st.Mode().IsRegular() {
		if st.Size() == 0 {
			return nil, nil
		}
		sig, err := probeSignatures(path)
		if err != nil || sig == "" {
			return nil, err
		}
		return []string{"carries " + sig}, nil
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotDevice, path)
	}
	return refusalReasons(path), nil
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
