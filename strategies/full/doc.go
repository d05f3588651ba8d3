// Package full is the full-copy engine, modelled on VMware full clones and
// on arrays' "full copy" clones: every volume is an independent, fully
// provisioned extent, and a snapshot or clone copies every chunk its source
// has written into a new extent. Creation time and space grow with the data
// written; afterwards copies cost nothing and share nothing.
//
// # On-device layout (offsets within the engine area)
//
//	[0, metaLen)          two volume-table slots (meta.DualSlot), metaLen/2 each
//	[dataStart, capacity) extents, each aligned to the chunk size:
//	                      [written bitmap, rounded up to a chunk][volume data]
//
// The volume table lists every volume: id, parent, kind, size, extent
// offset and name, plus the next id. Free space is whatever no extent covers:
// it is derived from the table, so there is no separate allocator state that
// could disagree with it after a crash. The written bitmap holds one bit per
// chunk: set once the chunk has been written, so that unwritten chunks read
// as zeros (the extent is never zeroed) and snapshots copy only written
// chunks.
//
// # Crash consistency
//
//   - Create: zero the new extent's bitmap, flush, commit the table. A crash
//     before the commit leaves the extent unreferenced, so free.
//   - Writes go in place into the volume's own extent. The first write to a
//     chunk zero-fills the rest of the chunk, then sets its bit in memory.
//     Flush snapshots the dirty bitmap blocks, flushes the data, writes the
//     blocks, and flushes again: a bit is durable only after its data, so
//     after a crash a set bit always covers durable data, and an unset bit
//     reads zeros (old content). Bits only go from 0 to 1 while a volume
//     lives, so a torn bitmap block is harmless.
//   - Snapshot/Clone: block writes to the source, flush it (data and
//     bitmap), copy its written chunks into a new extent, write the new
//     bitmap, flush, commit the table. Before the commit the copy is
//     unreferenced.
//   - Delete: commit the table without the volume.
//
// # Complexity
//
// Create O(volumes) for allocation plus the bitmap zeroing; Snapshot/Clone
// O(written bytes) of device copy; Delete O(volumes) (the table is rewritten
// whole); reads and writes O(chunks touched) with no lock but a per-volume
// read lock. Memory: one bit per chunk per volume.
//
// # Limits
//
// Extents are contiguous and allocated first fit, so free space can
// fragment; the volume table must fit one slot (about metaLen/200 volumes).
package full
