package row

import (
	"sync/atomic"
	"unsafe"
)

// stats are the engine's mechanism counters; they only grow.
type stats struct {
	inPlace         atomic.Int64 // chunk writes that went in place
	cowRemaps       atomic.Int64 // writes to a shared chunk redirected to a new one
	cowCopies       atomic.Int64 // partial writes that copied the rest of a shared chunk
	zeroFills       atomic.Int64 // partial writes to unmapped chunks (rest zero-filled)
	chunksAllocated atomic.Int64
	raceRetries     atomic.Int64 // copy-on-writes redone because another writer won
	nodesShadowed   atomic.Int64
	nodesWritten    atomic.Int64
	nodeReads       atomic.Int64
	pagesWritten    atomic.Int64
	pageReads       atomic.Int64
	commits         atomic.Int64
	expired         atomic.Int64
}

// Stats returns the engine's counters: chunk writes in place, copy-on-write
// remaps and chunk copies, zero fills, chunks allocated, nodes shadowed,
// node and space-map page reads and writes, node-cache hits, misses,
// write-backs and overflows, commits, and snapshots expired.
func (e *Engine) Stats() map[string]int64 {
	s := &e.st
	return map[string]int64{
		"in_place_writes":       s.inPlace.Load(),
		"cow_remaps":            s.cowRemaps.Load(),
		"cow_chunk_copies":      s.cowCopies.Load(),
		"zero_fills":            s.zeroFills.Load(),
		"chunks_allocated":      s.chunksAllocated.Load(),
		"cow_races":             s.raceRetries.Load(),
		"nodes_shadowed":        s.nodesShadowed.Load(),
		"nodes_written":         s.nodesWritten.Load(),
		"node_reads":            s.nodeReads.Load(),
		"sm_pages_written":      s.pagesWritten.Load(),
		"sm_pages_read":         s.pageReads.Load(),
		"node_cache_hits":       e.cache.hits.Load(),
		"node_cache_misses":     e.cache.misses.Load(),
		"node_cache_writebacks": e.cache.writebacks.Load(),
		"node_cache_overflows":  e.cache.overflows.Load(),
		"commits":               s.commits.Load(),
		"expired":               s.expired.Load(),
	}
}

// MemoryBytes estimates the engine's memory: cache frames, per-volume
// state, per-page space-map state and the open transaction's quarantine.
func (e *Engine) MemoryBytes() int64 {
	const frameBytes = blockSize + int64(unsafe.Sizeof(frame{})) + 48 // + map entry
	n := int64(e.cache.size()) * frameBytes
	e.mu.RLock()
	for _, v := range e.vols {
		n += int64(unsafe.Sizeof(volState{})) + int64(len(v.name)) + 2*48 // + byID, byName entries
	}
	e.mu.RUnlock()
	s := e.sm
	s.mu.Lock()
	n += int64(len(s.free))*(4+4+1) + int64(len(s.idxDirty))
	n += int64(len(s.quarList[0])+len(s.quarList[1])) * (8 + 48)
	s.mu.Unlock()
	return n
}

// reservedBlocks is the node blocks held by reservations.
func (s *spaceMap) reservedBlocks() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}
