package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"strings"
	"testing"
)

func TestCheckVerb(t *testing.T) {
	dev := formatted(t, "full", "128M")
	mustRun(t, "volume", "create", "--device", dev, "--name", "base", "--size", "16M")
	mustRun(t, "volume", "clone", "--device", dev, "--source", "base", "--name", "vm1")
	out := mustRun(t, "check", "--device", dev)
	if !strings.HasPrefix(out, dev+": full engine consistent: 2 volumes,") {
		t.Errorf("check printed %q", out)
	}

	// Wipe both copies of the volume table (past the superblock): the check
	// must fail.
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 4<<20), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mustFail(t, 1, "full", "check", "--device", dev)

	mustFail(t, 1, "holds no snapbench engine", "check", "--device", writeZeroFile(t, 8<<20))
	mustFail(t, 2, "--device is required", "check")
	mustFail(t, 2, `unexpected argument "x"`, "check", "--device", dev, "x")
}

// TestCheckSuperblockCopies: check reports a destroyed or damaged
// superblock copy (exit 1, one line naming the copy) instead of calling the
// engine consistent; check --repair restores it from the intact copy and
// says so, writes nothing when there is nothing to repair, and refuses
// (exit 2, nothing written) when neither copy is intact.
func TestCheckSuperblockCopies(t *testing.T) {
	cases := []struct {
		name    string
		off     int64 // where the damage is written
		n       int
		want    string // the check's error line
		refused bool   // --repair must refuse
	}{
		{"copy 0 destroyed", 0, 4096, "superblock copy 0 (offset 0) is destroyed (no superblock magic)", false},
		{"copy 1 destroyed", 4096, 4096, "superblock copy 1 (offset 4096) is destroyed (no superblock magic)", false},
		{"copy 0 checksum", 200, 1, "superblock copy 0 (offset 0) is damaged (superblock checksum mismatch)", false},
		{"copy 1 checksum", 4096 + 4092, 1, "superblock copy 1 (offset 4096) is damaged (superblock checksum mismatch)", false},
		{"both damaged", 200, 4096, "both superblock copies are damaged", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := formatted(t, "full", "64M")
			mustRun(t, "volume", "create", "--device", dev, "--name", "base", "--size", "4M")
			intact := fileSum(t, dev)
			mustRun(t, "check", "--device", dev, "--repair") // nothing to repair
			if fileSum(t, dev) != intact {
				t.Fatal("check --repair wrote to an intact device")
			}
			f, err := os.OpenFile(dev, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, c.n), c.off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			mustFail(t, 1, c.want, "check", "--device", dev)
			damaged := fileSum(t, dev)
			if c.refused {
				mustFail(t, 2, "cannot repair", "check", "--device", dev, "--repair")
				if fileSum(t, dev) != damaged {
					t.Fatal("a refused repair wrote to the device")
				}
				return
			}
			out := mustRun(t, "check", "--device", dev, "--repair")
			if !strings.Contains(out, "repaired "+strings.TrimSuffix(c.want, " (no superblock magic)")) ||
				!strings.Contains(out, "full engine consistent: 1 volumes") {
				t.Errorf("check --repair printed %q", out)
			}
			if fileSum(t, dev) != intact {
				t.Error("the repaired device differs from the intact one")
			}
			out = mustRun(t, "check", "--device", dev, "--repair")
			if !strings.Contains(out, "nothing to repair") || fileSum(t, dev) != intact {
				t.Errorf("second repair printed %q (or wrote)", out)
			}
			mustRun(t, "check", "--device", dev)
		})
	}
}

// fileSum is the SHA-256 of a file.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
