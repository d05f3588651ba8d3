package cow

import (
	"sync/atomic"
	"unsafe"
)

// counters are the engine's mechanism counters since Open (see Stats).
type counters struct {
	cowCopies        atomic.Int64
	cowCopyBytes     atomic.Int64
	cloneAllocs      atomic.Int64
	cloneMerges      atomic.Int64
	invalidations    atomic.Int64
	exceptionCommits atomic.Int64
	exceptionBlocks  atomic.Int64
}

// Stats returns the engine's counters since it was opened:
//
//	cow_copies                chunks copied from a base into a delta before an in-place write
//	cow_copy_bytes            their bytes
//	clone_chunk_allocs        delta chunks a clone's own writes allocated
//	clone_merges              of those, partial-chunk writes merged with the base chunk (read-modify-write)
//	invalidations             snapshots and clones invalidated because their delta was full
//	exception_commits         exception-table commits (one per delta per commit)
//	exception_block_writes    exception-table blocks written
//	flushes                   device flushes issued by the engine's IO and commit paths
func (e *Engine) Stats() map[string]int64 {
	return map[string]int64{
		"cow_copies":             e.stats.cowCopies.Load(),
		"cow_copy_bytes":         e.stats.cowCopyBytes.Load(),
		"clone_chunk_allocs":     e.stats.cloneAllocs.Load(),
		"clone_merges":           e.stats.cloneMerges.Load(),
		"invalidations":          e.stats.invalidations.Load(),
		"exception_commits":      e.stats.exceptionCommits.Load(),
		"exception_block_writes": e.stats.exceptionBlocks.Load(),
		"flushes":                e.fl.count.Load(),
	}
}

// MemoryBytes estimates the memory of the engine's metadata: per base a
// bitmap of one bit per chunk and its chunk locks; per snapshot or clone its
// exception table (about 11 to 21 bytes per exception, nothing per shared
// chunk), its free-slot list and the entries not yet committed.
func (e *Engine) MemoryBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := int64(unsafe.Sizeof(*e)) + int64(cap(e.vols))*8
	for _, v := range e.vols {
		n += int64(unsafe.Sizeof(*v)) + int64(len(v.name))
		if v.b != nil {
			n += int64(unsafe.Sizeof(*v.b)) + int64(len(v.b.copied))*8 + int64(cap(v.b.deps))*8
		}
		if v.d != nil {
			n += int64(unsafe.Sizeof(*v.d)) + v.d.memBytes()
		}
	}
	return n
}
