package device

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// headWith returns a probeLen-byte head, zero but for magic at off.
func headWith(off int, magic string) []byte {
	h := make([]byte, probeLen)
	copy(h[off:], magic)
	return h
}

// mbr returns a head holding an MBR whose first partition entry is e.
func mbr(status, typ byte, start, sectors uint32) []byte {
	h := make([]byte, probeLen)
	e := h[446:462]
	e[0], e[4] = status, typ
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	h[510], h[511] = 0x55, 0xaa
	return h
}

func TestSignature(t *testing.T) {
	gpt := mbr(0, 0xee, 1, 0xffffffff) // protective MBR, then the GPT header
	copy(gpt[512:], "EFI PART")
	cases := []struct {
		name string
		head []byte
		want string // a word the description must contain; "" for none
		not  string // a word it must not contain
	}{
		{"ext4", headWith(0x438, "\x53\xef"), "ext4", ""},
		{"xfs", headWith(0, "XFSB"), "xfs", ""},
		{"btrfs", headWith(0x10040, "_BHRfS_M"), "btrfs", ""},
		{"gpt 512", headWith(512, "EFI PART"), "GPT", ""},
		{"gpt 4096", headWith(4096, "EFI PART"), "GPT", ""},
		{"gpt behind protective mbr", gpt, "GPT", "MBR"},
		{"lvm label", headWith(512, "LABELONE"), "LVM", ""},
		{"lvm type", headWith(512+24, "LVM2 001"), "LVM", ""},
		{"luks", headWith(0, "LUKS\xba\xbe"), "LUKS", ""},
		{"swap v2", headWith(4086, "SWAPSPACE2"), "swap", ""},
		{"swap v1", headWith(4086, "SWAP-SPACE"), "swap", ""},
		{"iso9660", headWith(0x8001, "CD001"), "iso9660", ""},
		{"md v1.2", headWith(4096, "\xfc\x4e\x2b\xa9"), "md RAID", ""},
		{"exfat", headWith(3, "EXFAT   "), "exFAT", ""},
		{"ntfs", headWith(3, "NTFS    "), "NTFS", ""},
		{"fat16", headWith(0x36, "FAT16   "), "FAT", "FAT32"},
		{"fat32", headWith(0x52, "FAT32   "), "FAT32", ""},
		{"mbr", mbr(0x80, 0x83, 2048, 100000), "MBR", ""},
		{"lvm label sector 0", headWith(0, "LABELONE"), "LVM2", ""},
		{"lvm label sector 2", headWith(1024, "LABELONE"), "LVM2", ""},
		{"luks2 secondary header", headWith(0x4000, "SKUL\xba\xbe"), "LUKS2", ""},
		{"swap, 64k pages", headWith(65536-10, "SWAPSPACE2"), "swap", ""},
		{"md v1.1", headWith(0, "\xfc\x4e\x2b\xa9"), "1.1", ""},
		{"zfs le", headWith(0x20000, "\x0c\xb1\xba\x00\x00\x00\x00\x00"), "ZFS", ""},
		{"zfs be", headWith(0x20000, "\x00\x00\x00\x00\x00\xba\xb1\x0c"), "ZFS", ""},
		{"bcache", headWith(0x1018, "\xc6\x85\x73\xf6\x4e\x1a\x45\xca\x82\x65\xf5\x7f\x48\xba\x6d\x81"), "bcache", ""},
		{"squashfs le", headWith(0, "hsqs"), "squashfs", ""},
		{"squashfs be", headWith(0, "sqsh"), "squashfs", ""},
		{"cramfs", headWith(0, "\x45\x3d\xcd\x28"), "cramfs", ""},
		{"cramfs be", headWith(0, "\x28\xcd\x3d\x45"), "cramfs", ""},
		{"cramfs padded", headWith(512, "\x45\x3d\xcd\x28"), "cramfs", ""},
		{"bfs", headWith(0, "\xce\xfa\xad\x1b"), "bfs", ""},
		{"minix v1", headWith(0x410, "\x7f\x13"), "minix", ""},
		{"minix v1 30-char names", headWith(0x410, "\x8f\x13"), "minix", ""},
		{"minix v2", headWith(0x410, "\x68\x24"), "minix", ""},
		{"minix v2 30-char names", headWith(0x410, "\x78\x24"), "minix", ""},
		{"minix v3", headWith(0x418, "\x5a\x4d"), "minix", ""},
		{"snapbench", headWith(0, "SNAPBNCH"), "snapbench", ""},
		{"zfs magic short", headWith(0x20000, "\x0c\xb1\xba\x00")[:0x20004], "", ""},
		{"mbr, inactive entry", mbr(0, 0x07, 63, 1000), "MBR", ""},

		{"zeros", make([]byte, probeLen), "", ""},
		{"nil", nil, "", ""},
		{"short head, magic cut off", headWith(0x438, "\x53\xef")[:0x439], "", ""},
		{"boot signature, no partitions", mbr(0, 0, 0, 0), "", ""},
		{"mbr entry of type 0", mbr(0x80, 0, 2048, 1000), "", ""},
		{"mbr entry of no sectors", mbr(0x80, 0x83, 2048, 0), "", ""},
		{"mbr entry, bad status", mbr(0x12, 0x83, 2048, 1000), "", ""},
		{"mbr without boot signature", mbr(0x80, 0x83, 2048, 1000)[:510], "", ""},
		{"ext4 magic one byte off", headWith(0x439, "\x53\xef"), "", ""},
		{"text", []byte(strings.Repeat("hello, world ", 10000)), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Signature(c.head)
			switch {
			case c.want == "" && got != "":
				t.Errorf("Signature = %q, want none", got)
			case c.want != "" && !strings.Contains(got, c.want):
				t.Errorf("Signature = %q, want one naming %q", got, c.want)
			case c.not != "" && strings.Contains(got, c.not):
				t.Errorf("Signature = %q, must not name %q", got, c.not)
			}
		})
	}
}

// TestSignatureTableComplete checks that every entry of the signature table
// is found where it says, so an entry shadowed by an earlier one shows.
func TestSignatureTableComplete(t *testing.T) {
	for _, s := range signatures {
		if got := Signature(headWith(int(s.off), s.magic)); got != s.name {
			t.Errorf("magic %q at %#x: Signature = %q, want %q", s.magic, s.off, got, s.name)
		}
		if s.off+int64(len(s.magic)) > probeLen {
			t.Errorf("%s at %#x lies beyond the %d bytes probed", s.name, s.off, probeLen)
		}
	}
}

func TestProbeFiles(t *testing.T) {
	dir := diskDir(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		path    string
		reasons []string
		err     error
	}{
		{"empty file", write("empty", nil), nil, nil},
		{"zero file", write("zeros", make([]byte, 1<<20)), nil, nil},
		{"xfs file", write("xfs", headWith(0, "XFSB")), []string{"carries an xfs file system"}, nil},
		{"short mbr file", write("mbr", mbr(0x80, 0x83, 1, 8)[:512]), []string{"carries an MBR partition table"}, nil},
		{"missing", filepath.Join(dir, "missing"), nil, ErrNotFound},
		{"directory", dir, nil, ErrNotDevice},
		{"character device", "/dev/null", nil, ErrNotDevice},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reasons, err := Probe(c.path)
			if c.err != nil {
				wantErr(t, "Probe", err, c.err)
				return
			}
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if len(reasons) != len(c.reasons) || len(reasons) > 0 && !strings.HasPrefix(reasons[0], c.reasons[0]) {
				t.Errorf("Probe = %q, want %q", reasons, c.reasons)
			}
		})
	}
}

// TestRealExt4File checks the probe against what mkfs.ext4 really writes.
func TestRealExt4File(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed (Debian: e2fsprogs)")
	}
	path := filepath.Join(diskDir(t), "fs.img")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	reasons, err := Probe(path)
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "ext4") {
		t.Errorf("Probe = %q, %v; want one reason naming ext4", reasons, err)
	}
	_, err = Open(path, Options{})
	wantErr(t, "Open", err, ErrRefused)
	d, err := Open(path, Options{Force: true})
	if err != nil {
		t.Fatalf("Open with force: %v", err)
	}
	d.Close()
}

// TestTailSignature finds md superblocks that live at the end of a device.
func TestTailSignature(t *testing.T) {
	const size = 10<<20 + 12345*512 // not a multiple of 64 KiB
	at := func(off int64) []byte {
		tail := make([]byte, tailLen)
		copy(tail[off-(size-tailLen):], mdMagic)
		return tail
	}
	for _, c := range []struct {
		name string
		tail []byte
		want string
	}{
		{"md 0.90", at(size&^(64<<10-1) - 64<<10), "0.90"},
		{"md 1.0", at((size - 8192) &^ 4095), "1.0"},
		{"zeros", make([]byte, tailLen), ""},
		{"md magic elsewhere", at(size - 4096), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := TailSignature(c.tail, size)
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Errorf("TailSignature = %q, want %q", got, c.want)
			}
		})
	}
}

// withoutBlkid runs f with blkid hidden, so that only the built-in probe runs.
func withoutBlkid(t *testing.T, f func()) {
	old := blkidPath
	blkidPath = ""
	defer func() { blkidPath = old }()
	f()
}

// TestRealImages builds images with the real tools where they are installed
// and checks that the built-in probe and blkid both find them, that a
// writer's Open refuses them and writes nothing, and that the refusal says
// who found the signature.
func TestRealImages(t *testing.T) {
	dir := diskDir(t)
	cases := []struct {
		name, tool string
		args       func(img, src string) []string
		want       string // a word of the built-in description
	}{
		{"ext4", "mkfs.ext4", func(img, _ string) []string { return []string{"-q", "-F", img} }, "ext4"},
		{"xfs", "mkfs.xfs", func(img, _ string) []string { return []string{"-q", "-f", img} }, "xfs"},
		{"btrfs", "mkfs.btrfs", func(img, _ string) []string { return []string{"-q", "-f", img} }, "btrfs"},
		{"swap", "mkswap", func(img, _ string) []string { return []string{img} }, "swap"},
		{"minix", "mkfs.minix", func(img, _ string) []string { return []string{img} }, "minix"},
		{"minix v3", "mkfs.minix", func(img, _ string) []string { return []string{"-3", img} }, "minix"},
		{"bfs", "mkfs.bfs", func(img, _ string) []string { return []string{img} }, "bfs"},
		{"cramfs", "mkfs.cramfs", func(img, src string) []string { return []string{src, img} }, "cramfs"},
		{"vfat", "mkfs.vfat", func(img, _ string) []string { return []string{img} }, "FAT"},
		{"squashfs", "mksquashfs", func(img, src string) []string { return []string{src, img, "-noappend", "-quiet"} }, "squashfs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tool, err := exec.LookPath(c.tool)
			if err != nil {
				t.Skipf("%s not installed", c.tool)
			}
			img := filepath.Join(dir, "img")
			os.Remove(img)
			src := t.TempDir()
			os.WriteFile(filepath.Join(src, "f"), []byte("hello"), 0o644)
			if c.tool != "mkfs.cramfs" && c.tool != "mksquashfs" {
				if err := os.WriteFile(img, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				size := int64(64 << 20)
				switch c.name {
				case "xfs":
					size = 320 << 20
				case "btrfs":
					size = 128 << 20
				}
				if err := os.Truncate(img, size); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := exec.Command(tool, c.args(img, src)...).CombinedOutput(); err != nil {
				t.Skipf("%s: %v\n%s", c.tool, err, out)
			}
			if st, _ := os.Stat(img); st.Size()%4096 != 0 {
				os.Truncate(img, (st.Size()/4096+1)*4096)
			}
			withoutBlkid(t, func() {
				sig, err := probeSignatures(img)
				if err != nil || !strings.Contains(sig, c.want) || !strings.Contains(sig, "built-in probe; blkid is not installed") {
					t.Errorf("built-in probe = %q, %v; want %q, and that blkid is missing", sig, err, c.want)
				}
			})
			if BlkidAvailable() {
				sig, err := blkidProbe(img)
				if err != nil || sig == "" {
					t.Errorf("blkid -p = %q, %v; want a signature", sig, err)
				}
			}
			before := fileSum(t, img)
			_, err = Open(img, Options{})
			wantErr(t, "Open", err, ErrRefused)
			if err != nil && !strings.Contains(err.Error(), "found by") {
				t.Errorf("refusal %q does not say who found the signature", err)
			}
			if after := fileSum(t, img); before != after {
				t.Error("a refused Open changed the image")
			}
			d, err := Open(img, Options{ReadOnly: true, Direct: DirectPreferred})
			if err != nil {
				t.Fatalf("read-only Open: %v", err)
			}
			d.Close()
		})
	}
}

// blkid describes what it finds; on zeros it finds nothing (exit code 2).
func TestBlkidOnly(t *testing.T) {
	if !BlkidAvailable() {
		t.Skip("blkid not installed (util-linux)")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed")
	}
	img := filepath.Join(t.TempDir(), "img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 16<<20)
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v\n%s", err, out)
	}
	// blkid's own description, asked directly.
	sig, err := blkidProbe(img)
	if err != nil || !strings.Contains(sig, "ext4") {
		t.Errorf("blkidProbe = %q, %v", sig, err)
	}
	empty := filepath.Join(t.TempDir(), "zeros")
	os.WriteFile(empty, make([]byte, 1<<20), 0o644)
	if sig, err := blkidProbe(empty); sig != "" || err != nil {
		t.Errorf("blkidProbe(zeros) = %q, %v; want nothing", sig, err)
	}
}

// The lock: shared locks coexist, an exclusive one excludes every other.
func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dev")
	os.WriteFile(p, make([]byte, 4096), 0o644)
	for _, c := range []struct {
		name        string
		first, next bool // exclusive?
		ok          bool
	}{
		{"shared+shared", false, false, true},
		{"shared+exclusive", false, true, false},
		{"exclusive+shared", true, false, false},
		{"exclusive+exclusive", true, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			unlock, err := Lock(p, c.first)
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			u2, err := Lock(p, c.next)
			if c.ok != (err == nil) {
				t.Fatalf("second lock: %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				wantErr(t, "Lock", err, ErrRefused)
				return
			}
			u2()
		})
	}
	if _, err := Lock(filepath.Join(t.TempDir(), "missing"), true); err == nil || strings.Count(err.Error(), "missing") != 1 {
		t.Errorf("Lock(missing) = %v; want one error naming the path once", err)
	}
}

// A read-only open works on an immutable file; a writer's open fails with
// the path said once.
func TestReadOnlyImmutable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chattr +i needs root")
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("chattr not installed")
	}
	p := filepath.Join(diskDir(t), "immutable")
	os.WriteFile(p, make([]byte, 1<<20), 0o644)
	if out, err := exec.Command(chattr, "+i", p).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	defer exec.Command(chattr, "-i", p).Run()
	d, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of an immutable file: %v", err)
	}
	d.Close()
	_, err = Open(p, Options{})
	if err == nil || strings.Count(err.Error(), p) != 1 {
		t.Errorf("writer Open = %v; want an error naming the path once", err)
	}
}

// fileSum is the SHA-256 of a file's content.
func fileSum(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
