// Package cow is classic copy-on-write with a delta area per snapshot, the
// mechanism of dm-snapshot and of old (non-thin) LVM snapshots, and of many
// arrays before redirect-on-write: the engine the comparison is about.
//
// # What it models
//
// A base volume is fully provisioned: one contiguous extent, reserved in
// full at Create and written in place. Every snapshot or clone of a base
// gets its own delta (exception store, dm-snapshot's "COW device") of fixed
// capacity, reserved in full at creation, and its own exception table
// mapping base chunks to delta chunks, both on the device.
//
//   - The first write to a base chunk after snapshots exist copies the old
//     chunk into every valid dependent whose table lacks it, makes those
//     copies and exceptions durable, and only then writes the base in place.
//     With N dependents the copy cost is N: this is the cost measured.
//   - A snapshot or clone reads a chunk from its delta when its table has
//     it, from the base otherwise.
//   - Clones are writable snapshots: their writes go to their own delta; a
//     partial write to a chunk not yet there first copies the base chunk
//     (read-modify-write). Their exceptions are committed at Flush: no
//     shared data is overwritten, so a crash before the flush only loses the
//     unflushed write.
//   - A delta that runs out of room invalidates its snapshot or clone
//     (durably): reads, writes and flushes of it then fail with
//     ErrInvalidated, Volumes shows it invalid, Space counts it. The base and
//     the other dependents are unaffected, and base writes never fail for it.
//     The invalid volume keeps its space until deleted.
//   - Unsupported (ErrUnsupported): a snapshot or clone of a snapshot or
//     clone. Deleting a base with dependents fails with ErrHasChildren.
//     Deleting a snapshot or clone frees its delta at once.
//
// Delta capacity: delta-percent (default 20) of the base, at least
// delta-min bytes (default 4 MiB: LVM allocates snapshot space in whole
// extents, so a snapshot of a small volume holds at least one extent) and
// one chunk, at most the base size (a delta can never need more).
//
// # On-device layout
//
// Offsets are within the engine area (after the snapbench superblock).
//
//	[0, 4K)       volume-table header A
//	[4K, 8K)      volume-table header B
//	[D, capacity) extents, each starting on a chunk boundary, first fit:
//	              base:           size bytes of data
//	              snapshot/clone: capacity*chunk bytes of delta slots, then the
//	                              exception table: 2 copies of each of its
//	                              ceil(capacity/505) 4 KiB blocks (A0 B0 A1 B1 ...)
//	              table segment i: 2 copies of each of its 8<<i table pages
//	                              (A0 B0 A1 B1 ...), allocated when the table grows
//
// D is 8 KiB rounded up to the chunk size. Free space is whatever no extent
// covers: it is derived from the volume table, so no allocator state can
// disagree with it after a crash (memory keeps it in a first-fit treap).
//
// Volume table. Every volume has a record slot holding a fixed 112-byte
// record (little endian): id u64 (0: free slot), kind u8, flags u8 (1:
// invalid), parent u64, size u64, extent offset u64, extent length u64,
// delta capacity in chunks u32, name length u16, name padded with zeros to 64
// bytes. Slots 0-15 are in the header; slot 16+36p+i is record i of table
// page p. Slots are handed out lowest first, so the pages in use are a
// prefix. Header block (4096 bytes): magic "COWH", version u32 (2), sequence
// u64, format nonce u64, next id u64, invalidated count u64, segment count
// u16, listed-page count u16 (0xffff: none listed, see below), pages in use
// u32; at 48 up to 16 segments (offset u64, pages u32, segment nonce u64); at
// 368 the 16 inline records; at 2160 the listed page numbers (u32 each, at
// most 483); a CRC-32C of bytes [0, 4092) at 4092. Page (4096 bytes): magic
// "COWP", page number u32, segment nonce u64, format nonce u64, sequence
// u64, 36 records from offset 32, CRC-32C at 4092.
//
// Commit: the pages changed since the last commit are written, each into its
// copy that does not hold its committed version, with the new sequence
// number; the header is written into the older header block, listing those
// pages; one flush. Load takes the header with the higher sequence number
// whose listed pages all have a valid copy of that sequence, else the other
// header; for each page in use, the valid copy with the highest sequence not
// above the header's (a copy from an aborted commit, with a higher one, is
// rewritten by the next commit). A commit changing more pages than a header
// lists flushes the pages before writing the header, which then lists none.
// A page copy is believed only with this format's nonce, its segment's nonce
// (drawn when the segment is allocated) and its own number, so whatever an
// extent held before is ignored. A commit writes 4 KiB per changed page plus
// 4 KiB, whatever the number of volumes.
//
// Exception-table block (4096 bytes): magic "COWX" u32, entry count u32,
// format nonce u64, volume id u64, sequence u64, block index u32, 12 zero
// bytes, then up to 505 entries (base chunk u32, delta slot u32) from offset
// 48, and a CRC-32C of bytes [0, 4092) at 4092. A delta's table is a log of
// its exceptions in commit order: block k holds entries [505k, 505k+505).
// Only the tail block changes; its two copies are written alternately, each
// write with the next sequence number, and a copy is only overwritten once
// the other is durable, so a torn write always leaves the previous content in
// the other copy. Loading takes, block after block, the valid copy with the
// higher sequence number, and stops after the first block that is not full
// or has no valid copy. A block is believed only with this format's nonce,
// its volume's id and its own index, so whatever an extent held before
// (another format, a deleted volume) is ignored and a new delta needs no
// initialisation. Delta slots are handed out lowest free first; the slots
// below the highest used one that no exception holds (after a crash) are
// free again.
//
// # Crash consistency
//
//   - Format writes both volume-table slots with an empty table (each write
//     flushed) before strategies.Format writes the superblock.
//   - Create reserves the extent in memory, zeroes it (a discard where the
//     device guarantees zeros, else device.Zero), flushes, then commits the
//     volume table. Before the commit the extent is free.
//   - Snapshot and Clone hold off base writes (the base's gate), flush (every
//     acknowledged base write is durable, so the empty delta shares exactly
//     the point-in-time content), then commit the volume table.
//   - Base write needing copies: (1) write each copied chunk into its delta
//     slot; (2) flush; (3) write the dependents' exception-table blocks;
//     (4) flush; (5) write the base in place. A crash before (4) completes
//     leaves the base chunk unchanged, so a dependent without the exception
//     still reads the right content from the base; a table entry never
//     becomes durable before its data. A full delta is invalidated by a
//     volume-table commit (flushed) before (5).
//   - Clone write: data into a new or owned slot; the exception is recorded
//     in memory only. Flush: flush (the data is durable), write the table
//     blocks, flush. A base copy-out of a chunk whose clone exception is not
//     durable yet commits it in step (3), so the base is never overwritten
//     while a dependent's claim to the old content is only in memory.
//   - Delete commits the volume table without the volume; its extent is free.
//     DeleteMany does the same for a batch, with one commit.
//   - Volume-table commits (above) leave the previous or the new table after
//     a crash; a table segment is part of the table from the commit whose
//     header lists it, so before that its extent is free.
//
// # Concurrency
//
// Lock order: a base's gate; a clone's chunk stripe; a base's chunk
// stripes (ascending); Engine.mu; a delta's commitMu; a delta's mu; the
// flusher. Base writes hold the gate shared, so several run at once; an
// exception copy-out holds the chunks' stripes exclusive across its IO (the
// mechanism requires it), readers of a dependent hold a stripe shared only
// while reading that chunk from the base. Flushes are shared between
// concurrent callers (group commit), and commits of one delta's table by
// concurrent writers are merged (a writer whose entries were written by
// another's commit only waits for the flush).
//
// # Complexity
//
// Base write to chunks all dependents already hold: one device write, O(1)
// CPU (a bitmap test), no allocation. First write to a chunk: O(N) table
// lookups, N chunk writes, N table-block writes, one base chunk read and two
// flushes for N valid dependents lacking it. Snapshot/clone read: one table
// lookup per chunk, one device read per contiguous run. Clone write: O(1)
// lookup; a first write to a chunk allocates a slot (plus a chunk read for
// a partial write). Create: the zeroing plus O(log volumes) allocation and
// one volume-table commit. Snapshot, Clone, Delete: O(log volumes) CPU
// (first-fit treap, name and id maps, lowest-free-slot heap), one flush
// before and one volume-table commit: 8 KiB written (one page and the
// header; 4 KiB while the volume fits the header's 16 records). CloneMany and
// DeleteMany of n: O(n log volumes) CPU and one commit of the n/36 pages or
// so they touch. Open: reads the table pages in use and every valid delta's
// table, O(volumes + exceptions). Check: O(volumes + exceptions).
//
// Memory: per base one bit per chunk plus 64 chunk locks; per snapshot or
// clone its exception table as an open-addressing hash table of uint64
// (11 to 21 bytes per exception, nothing for chunks it shares), its free
// slots after a crash, and the exceptions not yet committed. Reported by
// MemoryBytes; mechanism counters by Stats.
//
// # Limits
//
// A base holds at most 2^31-1 chunks. The volume table grows on the device
// as volumes are added (16 segments hold over 18 million records); the
// option max-volumes (default and maximum 1048576) caps the number of
// volumes, and exceeding it fails with ErrNoSpace naming cow.max-volumes.
// The table never shrinks: its segments stay allocated after deletions
// (their slots are reused). Extents are contiguous and placed first fit, so
// free space can fragment. A delta's capacity is fixed at creation.
package cow
