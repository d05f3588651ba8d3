package main

import (
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
