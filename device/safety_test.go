package device

import (
	"encoding/binary"
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
			if strings.Join(reasons, "|") != strings.Join(c.reasons, "|") {
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
