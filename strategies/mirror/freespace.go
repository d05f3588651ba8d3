package mirror

import "github.com/snapbench/snapbench/strategies/internal/extent"

// freeSpace is the data area no volume or table covers: derived state,
// rebuilt at Open (extent.Free).
type freeSpace = extent.Free

func newFreeSpace() *freeSpace { return extent.NewFree(0x6d6972) }
