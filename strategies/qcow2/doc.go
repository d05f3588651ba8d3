// Package qcow2 is the real-system peer engine "qcow2": QEMU's qcow2
// images and backing chains. The engine area of the device (after the
// snapbench superblock) is formatted with XFS through a loop device at that
// offset and mounted in a private temporary directory; every volume's data
// lives in qcow2 image files there ("layers"), with clusters of the chunk
// size (cluster_size = chunk). IO goes through QEMU itself: opening a
// volume starts a qemu-nbd serving its top layer (with cache=none, so QEMU
// does direct IO to the image) on a unix socket, and snapbench's own NBD
// client (package device/nbd/client) talks to it; the handles of one volume share it.
//
// Mechanism: Create makes an empty image. Snapshot or Clone of a writable
// volume freezes its top image: the volume continues on a new overlay
// whose backing file is the frozen image (an external snapshot, as
// blockdev-snapshot does); a snapshot is the frozen image itself,
// read-only; each clone is a new overlay of it. A snapshot of a snapshot
// shares its image; a clone of one is an overlay of it. Reads of a cluster
// that a layer does not hold walk down the chain, so periodic snapshots
// make the source's chain deeper — the cost the linked engine models.
// When the source is open, its qemu-nbd is flushed, stopped and restarted
// on the new top (IO waits meanwhile): qemu-nbd cannot re-point a running
// export, which QMP's blockdev-snapshot in a full QEMU would.
//
// Caps: everything (snapshot, clone, nested, deleting a parent, many
// volumes, thin). What it cannot do: deleting a volume frees only the
// layers nothing else needs; a layer in the middle of a chain (a deleted
// snapshot's image still backing the source) stays, unmerged, until every
// volume over it is gone (a real deployment would run block-commit or
// block-stream; qemu-img cannot do that on an image in use). Every open
// volume is a qemu-nbd process; the first Open of a volume and every
// snapshot or clone of an open volume pay a process start. Crash tests
// cannot be run on a kernel file system.
//
// Needs: root, the loop driver, the kernel's xfs, mkfs.xfs (Debian:
// xfsprogs), qemu-img and qemu-nbd (Debian: qemu-utils). No nbd kernel
// module: the NBD client is snapbench's. Without them Format and Open fail
// with an error wrapping strategies.ErrUnsupported that says what is
// missing.
//
// Accounting: snapbench's device counters see none of this IO (QEMU writes
// the images through XFS and the loop device straight to the backing
// file); the engine reports the loop device's counters since mount through
// strategies.Statser. Space comes from statfs (metadata: what XFS used
// right after mkfs; qcow2's own L1/L2 and refcount tables count as data);
// PrivateBytes of a volume is the allocated size of the layers only it
// uses.
//
// Cleanup: Close stops every qemu-nbd, unmounts (lazily if still busy) and
// detaches the loop device, also after errors; qemu-nbd processes get
// SIGTERM if snapbench dies, and a killed process leaves the mount behind
// (umount /tmp/snapbench-qcow2-*).
package qcow2
