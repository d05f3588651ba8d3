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
	fs := newFlags("check", "check --device PATH [--repair] [--force]", `
Open the engine whose superblock is on the device and run its consistency
check: both copies of the snapbench superblock are verified (a destroyed,
damaged or out-of-date copy is reported: the device then survives one more
damage only by luck), every metadata structure is decoded and its checksum
verified, every reference resolved, and the space map compared with what
the volumes use, so that a leaked or doubly owned chunk is found. Without
--repair the check only reads: the device is opened read-only under a
shared lock, so it works on an immutable file or a read-only block device,
and is refused while a writer (run, serve, volume) uses the device.

--repair opens the device read-write under an exclusive lock and rewrites a
damaged superblock copy from the intact one (and says which); it writes
nothing when both copies are intact, and refuses when neither is. It
repairs nothing else.

Exit status: 0 when the engine is consistent (or was repaired), 1 on damage
(or when the device cannot be opened), 2 on bad arguments, a refused repair
or when the device is in use.`)
	path := fs.String("device", "", "formatted device or file (required)")
	repair := fs.Bool("repair", false, "restore a damaged superblock copy from the intact one")
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
	eng, dev, closeAll, err := openEngine(*path, *force, !*repair)
	if err != nil {
		if *repair && errors.Is(err, strategies.ErrCorrupt) {
			fmt.Fprintf(stderr, "snapbench: check: cannot repair %s: %s\n", *path, oneLine(err.Error()))
			return 2
		}
		return fail(err)
	}
	defer closeAll()
	var repaired []strategies.SuperblockDamage
	if *repair {
		repaired, err = strategies.RepairSuperblocks(dev)
		if err != nil {
			return fail(fmt.Errorf("%s: repair: %w", *path, err))
		}
	} else {
		damage, err := strategies.CheckSuperblocks(dev)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", *path, err))
		}
		if len(damage) > 0 {
			for _, d := range damage {
				fmt.Fprintf(stderr, "snapbench: %s: %s; snapbench check --repair --device %s restores it from the intact copy\n", *path, d, *path)
			}
			return 1
		}
	}
	vols := eng.Volumes()
	if err := eng.Check(); err != nil {
		if errors.Is(err, strategies.ErrCorrupt) {
			return fail(fmt.Errorf("%s: %s engine is damaged: %w", *path, eng.Name(), err))
		}
		return fail(fmt.Errorf("%s: check of the %s engine failed: %w", *path, eng.Name(), err))
	}
	for _, d := range repaired {
		fmt.Fprintf(stdout, "%s: repaired %s: rewritten from the intact copy\n", *path, d)
	}
	if *repair && len(repaired) == 0 {
		fmt.Fprintf(stdout, "%s: both superblock copies intact, nothing to repair (nothing written)\n", *path)
	}
	sp := eng.Space()
	fmt.Fprintf(stdout, "%s: %s engine consistent: %d volumes, %s data, %s metadata, %s free (checked in %s)\n",
		*path, eng.Name(), len(vols), humanBytes(sp.Data), humanBytes(sp.Metadata), humanBytes(sp.Free),
		time.Since(start).Round(time.Millisecond))
	return 0
}
