package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/snapbench/snapbench/strategies"
)

func init() {
	registerVerb(verb{name: "check", summary: "check the consistency of the engine on a device (like fsck)", run: runCheck})
}

func runCheck(args []string) int {
	fs := newFlags("check", "check --device PATH [--force]", `
Open the engine whose superblock is on the device and run its consistency
check: every metadata structure is decoded and its checksum verified, every
reference resolved, and the space map compared with what the volumes use, so
that a leaked or doubly owned chunk is found. The check only reads: the
device is opened read-only under a shared lock, so it works on an immutable
file or a read-only block device, and is refused while a writer (run, serve,
volume) uses the device. Exit status: 0 when the engine is consistent, 1 on
damage (or when the device cannot be opened), 2 on bad arguments or when
the device is in use.`)
	path := fs.String("device", "", "formatted device or file (required)")
	force := fs.Bool("force", false, "open a device the safety rules refuse (mounted, or holding a file system signature)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError("check", "unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		return usageError("check", "--device is required")
	}
	start := time.Now()
	eng, _, closeAll, err := openEngine(*path, *force, true)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	vols := eng.Volumes()
	if err := eng.Check(); err != nil {
		if errors.Is(err, strategies.ErrCorrupt) {
			return fail(fmt.Errorf("%s: %s engine is damaged: %w", *path, eng.Name(), err))
		}
		return fail(fmt.Errorf("%s: check of the %s engine failed: %w", *path, eng.Name(), err))
	}
	sp := eng.Space()
	fmt.Fprintf(stdout, "%s: %s engine consistent: %d volumes, %s data, %s metadata, %s free (checked in %s)\n",
		*path, eng.Name(), len(vols), humanBytes(sp.Data), humanBytes(sp.Metadata), humanBytes(sp.Free),
		time.Since(start).Round(time.Millisecond))
	return 0
}
