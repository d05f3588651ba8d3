// Package row is redirect-on-write: one pool of chunks with reference
// counts, and a copy-on-write B-tree per volume mapping its chunks into the
// pool. It models dm-thin (its pool, space maps and time-stamped mappings),
// WAFL/FlexClone and btrfs, with the B-trees of Rodeh, "B-trees, shadowing,
// and clones" (ACM TOS 2008): snapshots and clones are O(1) in the volume
// size, at any depth and width.
//
// # What it models
//
// Every volume (base, snapshot, clone: all the same kind of object, only
// snapshots are read-only) is a record in the volume table holding the root
// of its mapping tree: logical chunk -> (pool chunk, generation). Nothing is
// provisioned: Create writes one record, and a chunk never written reads as
// zeros and takes no space.
//
//   - The pool: data chunks and B-tree node blocks, each with a 32-bit
//     reference count in the space map (on the device, read through the node
//     cache). A count is the number of pointers to the block: from volume
//     records (mapping roots), the commit record (the volume-table root),
//     internal nodes (children) and mapping leaves (data chunks). Allocation
//     is next-fit from a cursor, skipping pages that have nothing free.
//   - Lazy reference counts (Rodeh's shadowing): a committed node is never
//     changed. A change shadows the nodes on its path, top-down, splitting
//     full nodes on the way so an insert never propagates upwards. Shadowing
//     a node copies it to a new block and drops one reference to the
//     original; if the original is still referenced (shared), the copy adds
//     one reference to each of its children (or leaf chunks). A node written
//     by the open transaction is private to its tree and is changed in place.
//   - Snapshot and Clone: the new record shares the source's root, whose
//     count rises by one; nothing below the root is read or written. The
//     source's tree and the new one diverge as either is written, a path at a
//     time. Any volume can be the source, so snapshots and clones of
//     snapshots and clones nest to any depth. CloneMany adds len(names)
//     to the root's count once and commits the whole burst once; on error no
//     clone is created.
//   - The sharing rule, as dm-thin's: every volume record holds snapGen, the
//     transaction of the last snapshot or clone that shared its tree (the
//     source's is set too), and every mapping the transaction that wrote it.
//     A mapping written after the volume's snapGen points to a chunk only
//     this volume references, now and in the last commit: a write to it goes
//     in place, with no metadata change. Any other write (to a chunk mapped
//     at or before snapGen, or not mapped) allocates a new chunk, writes it,
//     and then maps it (shadowing the path) and drops a reference to the old
//     chunk. The rule is conservative: a chunk whose other sharers have all
//     been deleted is still redirected on its next write.
//   - Partial-chunk writes: a redirected write smaller than the chunk first
//     reads the old chunk (or uses zeros when none is mapped), merges the new
//     data in and writes the whole chunk: the read-modify-write cost,
//     counted in Stats (cow_chunk_copies, zero_fills).
//   - The new mapping is installed under the volume's tree lock after the
//     data write completed; if another writer changed the mapping meanwhile,
//     the new chunk is freed and the write retried (cow_races).
//   - Delete of any volume, a base with snapshots and clones included: its
//     record goes, and the root loses one reference; a node whose count
//     reaches zero is freed and its children (or chunks) lose one in turn,
//     so the descent stops at the first shared subtree and only what no
//     other volume references is freed. The other volumes hold their own
//     references and are unchanged; Volumes then reports their parent as
//     NoVolume. Deleting an open volume fails with ErrBusy.
//   - Out of space (no free data chunk, or not enough node blocks for a
//     change's reservation): writes, Create, Snapshot, Clone and CloneMany
//     first make room by committing, which releases what the open
//     transaction freed, and retry. With expire-snapshots-on-full they then
//     delete the oldest (lowest id) snapshot that is not open, one at a
//     time, until the operation succeeds or none is left; clones and bases
//     are never expired (a snapshot that is the source of the Clone being
//     made can be: the Clone then fails with ErrNotFound). Expired
//     snapshots are counted in the commit record (Space.Expired) and in
//     Stats (expired). Otherwise the call fails with ErrNoSpace: a write
//     returns how many bytes went in, each chunk holding its old or its new
//     content. Every tree change runs under a reservation of node
//     blocks taken before it starts (2*height+3 for a write), and the next
//     commit's volume-table rewrite is reserved as records become dirty, so
//     no change runs out of space half-way. Ordinary reservations leave a
//     floor of volume-table height+2 blocks, which Delete may use, so a full
//     pool can always delete.
//
// # On-device layout
//
// Offsets are within the engine area (after the snapbench superblock); all
// integers little endian, every metadata block 4 KiB with a CRC-32C:
//
//	[0, 2S)              commit-record slots A and B (meta.DualSlot)
//	[idxOff, +2*I*4K)    index pages: copy 0 of pages 0..I-1, then copy 1
//	[smOff, +2*P*4K)     space-map pages: copy 0 of P pages, then copy 1
//	[metaOff, +M*4K)     B-tree nodes: address a (1-based) at metaOff+(a-1)*4K
//	[dataOff, +D*chunk)  data chunks: chunk c at dataOff+c*chunk
//
// M is metadata-percent (default 2) of the area in 4 KiB blocks, at least
// 64 (256 KiB). P (the space-map stride) is ceil(area/chunk/1016) +
// ceil(M/1016) and I is ceil(P/2032). dataOff is the end of the nodes
// rounded up to the chunk size and D the whole chunks after it. S is the
// record's size rounded up to 4 KiB (4 KiB unless there are more than
// about 31,000 index pages). The geometry is recorded in every commit
// record and Open refuses a device whose computed geometry differs.
//
//   - Commit-record slot: the DualSlot header (32 bytes: magic, sequence
//     u64, payload length u64, CRC-32C of the payload, CRC-32C of the
//     header), then the commit record (record.go): magic "ROWR", version 1
//     (u32 each); txn, the generation of this commit; next volume id;
//     snapshots expired; volume-table root (u64 each, root 0 when empty);
//     the geometry (chunk size, area size, node blocks, data chunks,
//     space-map stride, index pages, data offset, node offset: u64 each);
//     then the index bits (u32 length, one bit per index page naming its
//     current copy). 108 bytes plus ceil(I/8). A commit writes the older
//     slot; Open takes the valid slot with the higher sequence number.
//   - Index page (spacemap.go): magic "RWSI", CRC-32C of bytes [8, 4096),
//     page number u64, generation u64, reserved u64, then 2032 u16 entries,
//     one per space-map page: bit 15 its current copy, bit 14 materialized
//     (written at least once; a page never written reads as all-zero
//     counts, so Format writes only the index pages and the two slots),
//     bits 0-9 its entries with count zero.
//   - Space-map page: magic "RWSM", CRC-32C of bytes [8, 4096), page number
//     u64, generation u64, reserved u64, then 1016 u32 reference counts.
//     Pages [0, dataPages) count data chunks, the following pages count
//     node blocks (count of node a at entry a-1); entries past the last
//     block must be zero.
//   - B-tree node (node.go): magic "ROWN", CRC-32C of bytes [8, 4096), own
//     address u64 (detects a misdirected write), generation u64 (the
//     transaction that wrote it), tree u8 (1 mapping, 2 volume table),
//     level u8 (0 for leaves, below 12), entry count u16 (at least 1),
//     reserved u32, then the keys (u64, strictly increasing) and the
//     values. Mapping leaves hold 169 entries: logical chunk -> pool chunk
//     u64 and generation u64. Volume-table leaves hold 29 entries: volume id
//     -> 128-byte volume record. Internal nodes hold 254 entries: the
//     first key of each child -> the child's address u64.
//   - Volume record (record.go, 128 bytes): parent id, mapping root, size
//     in bytes, snapGen (u64 each), kind u8 (1 base, 2 snapshot, 3 clone),
//     name length u8, the name (at most 64 bytes), zero padding.
//
// Every block read is validated (magic, checksum, own address or page
// number, generation not beyond the open transaction, shape); a failure is
// ErrCorrupt, never a panic. Each space-map and index page has two fixed
// copies: a transaction writes a changed page to the copy that is not
// current, and the commit record, through the index bits, makes the new
// copies current. Nodes and chunks are never overwritten while a committed
// tree can reach them (apart from the in-place writes of the sharing rule).
//
// # Crash consistency
//
// The engine runs one transaction at a time, in memory: tree changes and
// reference counts are kept in the node cache, records in the volume
// states, until a commit (or an early write-back, below). Create, Snapshot, Clone, CloneMany and Delete commit before they
// return, Flush (of the engine or of any volume) commits all volumes, and
// so does making room when the pool is full. A commit, with all IO drained:
//
//  1. rewrites the changed volume records into the volume table (shadowed
//     like any tree) and removes deleted ones;
//  2. makes this transaction's freed blocks allocatable again (blocks whose
//     count reached zero are quarantined until now, because the last
//     commit may still point to them; nothing allocates from here on);
//  3. writes every dirty node to its own block (allocated in this
//     transaction), each changed space-map page and index page to its
//     non-current copy, in offset order, coalesced into runs of up to
//     256 KiB;
//  4. flushes the device: this also makes every data write durable;
//  5. writes the commit record to the older slot and flushes.
//
// A Flush with no metadata change only flushes the device (in-place writes
// need nothing else). A crash before step 5 is durable leaves the previous
// record, which names the previous index copies, hence the previous
// space-map copies and trees; none of those was overwritten, and the
// chunks the transaction allocated were free in it and are free again.
// A crash therefore loses what changed since the last commit: redirected
// writes (their new mappings), and new or deleted volumes whose call had
// not returned. In-place writes since the last flush go to chunks only
// their volume references, so after a crash each holds its old or its new
// content, as on a disk. Nothing flushed is lost: Flush returns after the
// commit record is durable, and the data it covers was flushed before it.
// Dirty frames evicted early under cache pressure go to the same places
// (new node blocks, non-current page copies), so they never damage the
// last commit. A device error half-way through a tree change or a commit
// leaves memory unusable for the next commit: the engine then stops (every
// call fails, as a dm-thin pool switching to fail mode) until the device
// is reopened, which finds the last commit.
//
// # Concurrency
//
// Every method is safe for concurrent use. Lock order, outermost first:
// Engine.mu; a volume's tree lock (volState.mu); the space map's lock; the
// node cache's lock. Reads and writes hold Engine.mu shared for the whole
// call (a write releases it to make room), so IO on different volumes, and
// IO on one volume that does not change its tree, runs in parallel; a
// volume's tree lock is held shared for a lookup and exclusively to install
// a mapping, never across data IO. Create, Snapshot, Clone, CloneMany,
// Delete, a commit, Check and Close hold Engine.mu exclusively, which
// drains IO. A cache miss is loaded by one caller while others missing the
// same block wait for it; a dirty frame chosen for eviction is written back
// under the cache lock.
//
// # Complexity
//
// h is a mapping tree's height (3 levels map 169*254^2, about 10.9 million
// chunks), n a volume count.
//
//   - Read: per chunk, one lookup of h nodes (cache hits, or one 4 KiB read
//     each) and one device read (zeros where nothing is mapped). The cost
//     does not depend on how many snapshots or clones exist, nor on the
//     chain depth: every volume has its own tree.
//   - Write in place: one lookup and one device write per chunk.
//   - Redirected write: one next-fit allocation, one chunk write (plus a
//     chunk read for a partial write to a mapped chunk), a second lookup,
//     and at most h nodes shadowed; a node is shadowed once per transaction,
//     and shadowing a shared one adds a reference to each of its (at most
//     254, or 169 chunks) children.
//   - Flush: the dirty metadata blocks' writes and two device flushes; one
//     flush when no metadata changed. The volume table is rewritten along
//     the paths of the records that changed (every volume whose tree changed
//     since the last commit).
//   - Create, Snapshot, Clone: O(1) in the volume size: one reference count
//     increment and one record, plus the commit of what the transaction
//     holds. CloneMany of k names: one increment, k records (k/29 leaves),
//     one commit.
//   - Delete: O(nodes and chunks the volume alone references), one commit.
//   - Open: the commit record, every index page and the whole volume table,
//     O(n); space-map pages and mapping nodes are read on demand.
//   - Volumes: O(n) plus, for each volume whose root is not shared, a walk of
//     the nodes it alone references (PrivateBytes is what deleting it would
//     free). Check: O(metadata + device / chunk), twice (live and as
//     committed).
//
// Memory: the node cache (option cache-mb, default 64 MiB, i.e. 16,384
// frames of 4 KiB; at least 16 frames) holds mapping and volume-table nodes
// and space-map pages, with CLOCK replacement. Its bound is soft in one
// case: when every frame is pinned, a miss allocates one more frame
// (node_cache_overflows) rather than deadlock; frames are never released.
// Outside the cache: per volume its state, its name and two map entries;
// per space-map page (1016 chunks or node blocks) 9 bytes; the quarantine
// of the open transaction. MemoryBytes reports that estimate (frames
// allocated times their size plus the rest); Stats reports the mechanism
// counters (writes in place, remaps, chunk copies, nodes shadowed, node and
// page IO, cache hits and misses, commits, expired).
//
// # Limits
//
//   - The node area is fixed at Format (metadata-percent): it can fill
//     before the data chunks do, and then changes fail with ErrNoSpace.
//   - Mapping trees never shrink: there is no discard, so a chunk once
//     written stays mapped until its volume is deleted. Underfull
//     volume-table nodes are not merged.
//   - Reference counts are 32-bit (a block shared more than 2^32-1 times
//     fails with ErrNoSpace); trees have at most 12 levels; volumes are at
//     most 2^60 bytes, a multiple of the chunk size; names 1 to 64 bytes.
//   - One engine-wide transaction: a Flush of any volume commits every
//     volume, and metadata operations wait for all IO.
//   - IO goes chunk by chunk: a read or write spanning several chunks is one
//     device IO per chunk, even where their pool chunks are adjacent.
//   - The sharing rule is by generation, not by count (see above).
//   - The device's sector size must divide 4096.
package row
