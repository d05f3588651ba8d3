// Package mirror is the split-mirror engine, modelled on EMC TimeFinder
// Business Continuance Volumes (BCVs) and on split mirrors in general (LVM
// or md RAID1 legs broken off as copies). A clone-to-be is a full-size
// mirror kept in sync with every write to its source; "split" turns it into
// an independent volume instantly; "re-establish" attaches it again and
// resynchronises only what changed on either side since the split.
//
// What it models, and the costs it exposes:
//
//   - Establish(src) attaches a fully provisioned mirror to any volume. It
//     starts out of sync in every chunk; a copy cursor (per-chunk
//     out-of-sync bitmap on the device) synchronises it. Meanwhile every
//     write to the source is also written to each attached mirror where the
//     mirror is in sync; chunks not yet copied are left to the cursor.
//   - Snapshot/Clone(src) split a synchronised mirror: a flush, a few bitmap
//     blocks and one table commit, independent of the volume size. With no
//     mirror attached, they establish one, wait for the full copy, and
//     split (the full-copy cost). Snapshots of snapshots or clones are a new
//     establish on that volume (Caps.Nested).
//   - Every split records, per chunk, what was written on either side since
//     the split (its change bitmap). Reestablish copies only those chunks
//     and reports the bytes copied.
//   - Every write to a volume costs 1 + attached mirrors device writes.
//     Deleting a volume detaches (frees) its mirrors; its splits remain and
//     stop tracking it.
//   - Param auto-mirrors=N attaches N mirrors to every new base (zeroed with
//     it, so in sync at once) and establishes replacements after every
//     split, so clones are instant while the base pays N extra writes. With
//     it, deleting a split of a live base returns its extent to the base as
//     a mirror when that is cheaper to resynchronise (by its change
//     bitmap) than a mirror the base has, as BCVs are reused from a pool.
//
// The Establisher interface (type-assert the strategies.Engine) offers
// Establish, Detach, Mirrors, Sync and Reestablish.
//
// # Synchronisation and determinism
//
// By default synchronisation runs on demand: Sync(src, maxBytes) advances
// the copy cursors, and a split of a mirror not yet in sync completes the
// copy itself. So at queue depth 1 the sequence of device operations is a
// function of the sequence of calls, as CI requires. With
// background-sync=true a goroutine copies (4 MiB per engine-lock hold)
// whenever a mirror is out of sync; its IO interleaves with the caller's
// non-deterministically, so deterministic phases should not use it. Each
// copy run holds the source's IO lock exclusively (writes to the source wait
// for one run, at most 1 MiB or one chunk), as md's resync window does.
//
// # On-device layout (offsets within the engine area)
//
//	[0, 4 KiB)              write-intent block (see intent.go)
//	[4 KiB, 12 KiB)         volume table headers (a paged.Store: the two
//	                        header blocks; its pages live in segments,
//	                        extents of the data area taken as it grows)
//	[dataStart, capacity)   extents, chunk aligned, allocated first fit:
//	                        base volumes:   [data]
//	                        mirrors/splits: [bitmap blocks, rounded to a chunk][data]
//
// The table (table.go) lists volumes (id, kind, parent, size, extent, bitmap
// length, name) and attached mirrors (id, source, size, extent, bitmap
// length). Free space is derived from it. A mirror's bitmap holds its
// out-of-sync chunks; when it is split the same blocks become the new
// volume's change bitmap (empty at the split); when re-established they are
// the out-of-sync chunks again. Bitmaps are 4 KiB blocks of 32704 bits with
// a tag and a CRC-32C (bitmap.go). The sync progress is the bitmap; the
// cursor is only a hint derived from it.
//
// # Crash consistency
//
// Everything the engine knows is on the device; a reopen rebuilds memory
// from the table, the bitmaps and the intent block.
//
//   - Create: zero the data (and the auto-mirrors' data), write the mirrors'
//     empty bitmaps, flush, commit the table. Before the commit the extents
//     are unreferenced, hence free.
//   - Establish: write the all-ones bitmap, flush, commit.
//   - Writes to a paired volume (attached mirrors, or a split that tracks
//     or is tracked): before the data reaches any copy, the write-intent bits
//     of the regions it covers are durable (md's write-intent bitmap). The
//     change bits are set in memory before the write is acknowledged and
//     reach the device at the next Flush. Flush: flush the device (every
//     acknowledged write durable on every copy), write the dirty bitmap
//     blocks, flush, then clear the intent bits of regions with no write in
//     flight or since the flush began. After a crash, recovery marks every
//     chunk under a set intent bit out of sync in the volume's mirrors and
//     changed in its tracking splits (and the split's own), writes those
//     bitmaps, flushes, and only then clears the intent block. So a mirror
//     that may have missed an unflushed write is never split as if in sync,
//     and no change since a split is forgotten.
//   - Sync: copy runs, then flush, then write the bitmap blocks with the
//     cleared bits: a bit clears on the device only after its data is
//     durable. A crash re-copies what was not checkpointed.
//   - Split: with the source's writes held, copy what is still out of sync,
//     write the new change bitmaps (and replacements' bitmaps), flush, so
//     every write acknowledged to the source is durable on the mirror, then
//     commit. The new volume exists only once the commit is durable, and
//     then holds exactly the source's point-in-time content.
//   - Delete, DeleteMany, Detach, Reestablish: one commit; the IO of every
//     volume whose pairing changes is held until it is durable. DeleteMany
//     checks every id before it changes anything.
//   - Torn bitmap or intent blocks (a 4 KiB block is not atomic on 512-byte
//     sectors) fail their checksum and are recovered as all ones: resync or
//     re-copy everything they cover, which is always safe.
//   - A failed table commit poisons the engine (every metadata operation
//     fails until it is reopened): which header survives is unknown until
//     then.
//
// # Complexity
//
//   - Read: one device read, no lock. Write: 1 + M device writes (M attached
//     mirrors), O(T) atomic bit operations for T tracking splits, two atomic
//     operations per intent region; the first write to a region after a
//     flush adds an intent block write and a flush.
//   - Create: O(size × (1 + auto-mirrors)) zeroing. Establish: O(bitmap).
//     Sync: O(out-of-sync bytes) of copy. Split when synchronised: O(bitmap
//     blocks changed + table); otherwise plus the full copy. Reestablish:
//     O(changed chunks) of copy. Delete/Detach: O(volumes + mirrors) CPU to find
//     what changed, and device writes of the changed table pages and a
//     header only; DeleteMany: the same for a batch, with one commit. Extent allocation is O(log extents) (a first-fit treap).
//   - Flush: one device flush, plus O(dirty bitmap blocks) writes and a
//     second flush, plus O(intent regions) bit operations.
//   - Check: O(table + bitmaps) reads.
//   - Memory: one bit per chunk per mirror and per tracking split, 8 bytes
//     per intent region (at most 32704), about 200 bytes per volume.
//
// # Limits
//
// Extents are contiguous and allocated first fit, so free space fragments.
// The table grows to 16 segments of pages: about 19 million volumes and
// mirrors (37 records a page). The intent
// map is one block: regions are made large enough for 32704 bits to cover
// the device (chunk size for devices up to about 2 GiB at 64 KiB chunks).
// Concurrent writes to the same sectors of a mirrored volume may leave its
// copies with different ones of the values (as md RAID1 does); do not issue
// them. Overwrites are in place and chunks are never shared, so Caps.Thin is
// false and every copy is fully provisioned.
package mirror
