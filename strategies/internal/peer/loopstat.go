package peer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// loopStat is /sys/block/loopN/stat: what the kernel file system sent to
// the device, which snapbench's own device counters never see.
type loopStat struct {
	readIOs, readSectors, writeIOs, writeSectors, discardIOs, discardSectors, flushIOs int64
}

func readLoopStat(path string) loopStat {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(path), "stat"))
	if err != nil {
		return loopStat{}
	}
	f := strings.Fields(string(b))
	get := func(i int) int64 {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	return loopStat{readIOs: get(0), readSectors: get(2), writeIOs: get(4), writeSectors: get(6),
		discardIOs: get(11), discardSectors: get(13), flushIOs: get(15)}
}

// Stats returns the IO the file system did on its loop device since it was
// mounted (not across a reopen), for strategies.Statser: the real device
// traffic of a peer engine.
func (fs *FS) Stats() map[string]int64 {
	if fs.Loop == nil {
		return map[string]int64{}
	}
	s := readLoopStat(fs.Loop.Path)
	b := fs.base
	return map[string]int64{
		"fs_read_ios":      s.readIOs - b.readIOs,
		"fs_read_bytes":    (s.readSectors - b.readSectors) * 512,
		"fs_write_ios":     s.writeIOs - b.writeIOs,
		"fs_write_bytes":   (s.writeSectors - b.writeSectors) * 512,
		"fs_discard_ios":   s.discardIOs - b.discardIOs,
		"fs_discard_bytes": (s.discardSectors - b.discardSectors) * 512,
		"fs_flush_ios":     s.flushIOs - b.flushIOs,
	}
}
