// Package linked is the "linked" engine: sparse deltas stacked in chains,
// with a read-only replica under the clones of a template. It models
//
//   - VMware View linked clones: the first clone of a template (a base)
//     makes a replica, a read-only full copy of the template, once; every
//     clone is a sparse delta whose parent is the replica. Once its replica
//     exists the template can be deleted; the replica goes with its last
//     clone.
//   - VMDK redo logs and qcow2 backing chains: a snapshot freezes the
//     volume's current delta and stacks a new, empty delta on top for later
//     writes, so a volume is a chain of deltas and a read walks it top-down
//     until a delta maps the grain. Deleting a snapshot in the middle of a
//     chain merges (consolidates, block-streams) its delta into the one
//     above, copying grains.
//
// The grain is the chunk size (Options.ChunkSize). A delta maps grain i of
// the volume to a pool grain, or to nothing ("read my parent"); a delta
// with no parent reads zeros where it maps nothing.
//
// # Volumes and deltas
//
// Every volume owns one delta. A base or clone owns its writable top delta,
// which never has children; a snapshot owns a frozen delta. Internal
// volumes (Kind KindInternal, read-only, named "replica/<id>" and
// "layer/<id>", listed by Volumes so their space shows, not openable) own
// the other frozen deltas:
//
//   - Snapshot(V), V writable: V's top is committed and frozen and becomes
//     the snapshot; V gets a new empty top over it. Snapshot of a snapshot:
//     a new empty frozen delta over it.
//   - Clone(B), B a base: the clone is a new empty delta over B's replica.
//     The replica is reused while B is unchanged; the first write to B after
//     a replica was made durably marks it stale (one catalog commit), and
//     the next clone makes a new replica with B's current content (VMware's
//     recompose). The old replica lives on under its clones. With option
//     replica=false, clones of a base are made as clones of clones below.
//   - Clone(S), S a snapshot: a new empty delta over S's delta.
//   - Clone(C), C a clone: C's top is frozen as a retained layer; C gets a
//     new top over it, and so does the new clone (a qcow2 backing file).
//   - Delete(V): V's delta, with no children, is freed, and walking down,
//     so is every internal delta left childless (a replica whose last clone
//     went, a layer). A delta with one child is merged into the child: the
//     grains the child lacks are copied into new grains of the child, which
//     takes the delta's parent. A delta with several children is kept as a
//     layer. A layer left with one child is merged into it.
//
// # On-device layout
//
// The engine's area (after the snapbench superblock) is:
//
//	0 MiB   catalog root slot A, 1 MiB  (meta.DualSlot: header, seq, CRC-32C)
//	1 MiB   catalog root slot B, 1 MiB
//	2 MiB   the pool: grain n (n >= 1) at 2 MiB + (n-1)*chunk
//
// Pool grains hold volume data, grain tables or catalog buckets. The
// catalog (see catalog.go for the exact encoding) lists every volume (id,
// name, kind, role, flags, size, parent volume, owned delta, replica link)
// with the delta it owns (id, parent, grains, frozen flag, and its grain
// directory: the pool grains holding its grain table), plus the id
// counters and the geometry. It is a root in the DualSlot naming buckets
// of 128 volume ids each, stored copy-on-write in pool grains: a commit
// rewrites the buckets of the volumes it touched, so it costs O(changed
// volumes + buckets), not O(catalog). A grain table is a sequence of GT
// blocks of one sector each: sector/4-1 little-endian u32 entries (0: not
// mapped, else a pool grain), then a CRC-32C of the entries, the delta id
// and the block index. Table grains are allocated on demand: the
// directory entry of a part of the table that maps nothing is 0 (an empty
// delta has no table grain at all), and a new table grain is written whole
// before a catalog names it (an all-zero block is an empty block).
//
// # The replica device
//
// With option replica-device (a file or block device path, which must
// exist; see replicadev.go) replicas live on a second device, the "faster
// tier", and everything else, the template included, on the main one.
// The replica device holds a one-sector header (magic, version, a random
// format nonce, chunk and sector size, grain count, CRC-32C), then from
// max(chunk, 128 KiB) on a second pool. Replica grains are numbered after
// the main pool's (nPool+1...), so grain tables and the catalog name
// either device's grains alike; a replica's data grains and grain table
// are all on the replica device, and no other delta's are (Open and Check
// verify it). The catalog (then version 2) records the replica pool's size
// and the nonce; Open refuses a device without the header, with a damaged
// one, of other geometry, or with another nonce (a wrong or swapped
// device), and an engine formatted with a replica device opened without
// one. The engine opens the device itself with device.Open (direct IO,
// safety rules), holds an exclusive flock on it while open, and closes it
// in Close. Without the option nothing changes: catalog version 1, and
// the same device IO, byte for byte. Tests name registered memory devices
// as "mem:NAME" (registerTestDevice, reachable only from test code; an
// unregistered name is refused). Option values cannot contain '=', ',' or
// a newline, so neither can the path.
//
// No allocation map is stored: Open rebuilds the allocator from the
// catalog and the grain tables (every grain referenced exactly once, or the
// device is corrupt), so a grain written but never committed is free again
// after a crash.
//
// # Crash consistency
//
//   - Writes to a grain the top delta already maps go in place: that grain
//     is private to the volume. A write to an unmapped grain goes to a new
//     grain (filled from the chain first when the write covers it
//     partially) and is mapped in memory with a pending mark. No grain
//     another volume can read is ever overwritten.
//   - Flush (of a volume or the engine) takes the pending entries, flushes
//     the device (their grains are durable), writes the GT blocks holding
//     them in place and flushes again. A GT block is one sector, written
//     atomically, and only ever gains mappings to durable grains, so after a
//     crash each grain reads old or new. Entries mapped after the first
//     flush stay pending and are written as 0.
//   - A write to a part of the table with no table grain yet allocates one
//     (listed as new, in no committed catalog). The next Flush that covers
//     it (the engine's, or the volume's, which then takes the engine lock)
//     writes that grain whole after the data flush, flushes, and commits
//     the catalog that names it; until then its entries stay pending.
//   - Create, Snapshot, Clone and Delete prepare everything the new catalog
//     will refer to in places nothing committed refers to (replica grains
//     and tables), flush, and commit the catalog. Snapshot and Clone commit
//     the source's pending entries first.
//   - A catalog commit writes the touched buckets to newly allocated
//     grains, flushes, writes the root naming them to the older DualSlot
//     slot and flushes, and only then frees the grains of the buckets it
//     replaced: a crash leaves the old root and its buckets, or the new.
//     The root records each bucket's length and CRC-32C. The last few
//     free grains of the main pool (eight buckets' worth) are kept for
//     catalog commits, so a Delete can commit in a pool data filled.
//   - A merge copies grains into newly allocated grains, flushes, maps them
//     in the child as pending and commits the child's table (the child's
//     content is unchanged: the copies equal what it read through the
//     parent), then commits the catalog that drops the merged delta, and
//     only then frees its grains.
//   - With a replica device, every flush that precedes a commit
//     (flushData) flushes the replica device first, when it was written
//     since its last flush, then the main device: replica grains and
//     tables are durable on the replica device before the catalog on the
//     main device that names them is written. Order at Format: replica
//     header, flush of the replica device, then the catalog with its
//     nonce. A crash of either or both devices at any point therefore
//     leaves replica-device grains that no committed catalog refers to
//     (free after reopen) or durable ones. The replica device is never
//     written in place where a committed table refers: replicas are frozen.
//   - A failed catalog commit leaves the device holding the old or the new
//     catalog; the engine then refuses metadata operations and flushes
//     until reopened.
//
// # Cost of each operation
//
// n = grains of the volume, d = chain depth, c = catalog size.
//
//   - read: d table lookups per grain in memory, one device read per run of
//     grains contiguous in the pool (zeros cost nothing).
//   - write: in place, one device write; to a new grain, an allocation plus
//     one write, plus one grain read from the chain for a partial grain.
//   - flush: two device flushes plus one write per run of dirty GT blocks.
//   - create, snapshot, clone of a snapshot or clone: O(1) in the volume
//     size (no table is written for an empty delta), two or three flushes,
//     one catalog commit: the touched buckets (O(128 entries) each) and the
//     root (16 bytes per bucket, O(c/128)).
//   - first clone of a base, or first after it changed: copy every grain
//     the base maps (O(base data)), write the replica's table; later
//     clones cost as above. CloneMany commits a burst once.
//   - delete: one catalog commit; a merge copies the grains the child
//     lacks, O(delta). Deleting a base also clears the links of its
//     replicas, O(volumes). DeleteMany commits a batch once.
//   - open and Check: read the catalog and every grain-table grain in use,
//     O(metadata), not O(volume size).
//
// # Memory
//
// Grain tables are cached whole, as arrays of u32 in pages of 1024
// entries; a page exists only where the delta maps something. That is at
// most 4 bytes per grain per delta, plus per delta a slice of page pointers
// (8 bytes per 1024 grains), the grain directory (4 bytes per table grain
// the size needs, whether allocated or not) and the pending list, and one bit per pool
// grain (of both pools) for the allocators. MemoryBytes reports it. There are no per-grain
// maps and no presence bitmaps: the table page is the presence test.
//
// # Limits
//
// Grain numbers are 31-bit (the top bit marks pending entries): a pool of
// at most 2^31-1 grains (8 TiB with 4 KiB grains; the rest of a larger
// device is unused) and volumes of at most 2^31-1 grains. The catalog
// root must fit a 1 MiB slot: at 16 bytes per bucket plus 4 per bucket
// grain, about 50,000 buckets of 128 volume ids (6 million volumes if ids
// are dense; volume ids are never reused, so a bucket whose volumes were
// all deleted drops out of the root). The buckets take pool grains
// (about 100 bytes per volume). A part of a grain table that maps
// something occupies a whole pool grain. A merge needs free space for the grains it copies; without it
// Delete fails with ErrNoSpace and changes nothing. With a replica device,
// a replica needs room there (it does not spill into the main pool): a
// clone that needs a replica fails with ErrNoSpace when the replica device
// is full; both pools together are limited to 2^31-1 grains.
//
// # Space
//
// Space accounts both devices: Capacity is the engine area plus the whole
// replica device; Data and Free are data and free grains of both pools;
// Metadata is the rest (catalog slots, grain tables, the replica device's
// header area and the unusable tails). Volumes reports what each volume's
// delta holds, wherever it is.
package linked
