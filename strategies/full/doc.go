// Package full is the full-copy engine, modelled on VMware full clones and
// on arrays' "full copy" clones: every volume is an independent, fully
// provisioned extent, and a snapshot or clone copies every chunk its source
// has written into a new extent. Creation time and space grow with the data
// written; afterwards copies cost nothing and share nothing.
//
// # On-device layout (offsets within the engine area)
//
//	[0, 8 KiB)            two volume-table header blocks
//	[dataStart, capacity) extents, each aligned to the chunk size:
//	                      [written bitmap, rounded up to a chunk][volume data]
//	                      or a volume-table segment (allocated as the table grows)
//
// The volume table (a paged.Store, see strategies/internal/paged and table.go) holds a
// fixed 100-byte record per volume: id, parent, kind, size, extent offset
// and name; the header holds the next id, the segments and the first 16
// records, pages of 40 records hold the others. A commit writes only the
// pages that changed and the header, with one flush, so its cost does not
// grow with the number of volumes. Free space is whatever no extent covers:
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
//   - Delete, DeleteMany: commit the table without the volumes (all are
//     checked first; a batch is one commit).
//   - CloneMany: copy every clone, flush once, one commit for all of them.
//   - Table commits: changed pages into their older copies, the header into
//     the older header block listing them, one flush; loading believes a
//     header only if the pages it lists carry its sequence number, else
//     takes the other header, so a crash leaves the old or the new table.
//
// # Complexity
//
// Create O(log volumes) for allocation (a first-fit treap of free extents)
// plus the bitmap zeroing; Snapshot/Clone O(written bytes) of device copy
// plus one table commit (4 KiB per changed page plus 4 KiB, one flush);
// Delete O(volumes) CPU (the ordered list of volumes) and one commit;
// Flush visits only volumes with dirty bitmap blocks; reads and writes
// O(chunks touched) with no lock but a per-volume read lock. Memory: one
// bit per chunk per volume, a record slot per volume.
//
// # Limits
//
// Extents are contiguous and allocated first fit, so free space can
// fragment. The volume table grows on the device (16 segments hold over 20
// million records) and never shrinks: freed slots are reused.
package full
