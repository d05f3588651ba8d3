// Package peer is what the real-system peer engines (btrfs, xfs-reflink,
// qcow2) share: laying a kernel file system on the engine area of a
// snapbench device through a loop device at an offset, so the snapbench
// superblock before it stays intact; mounting it in a private temporary
// directory and always unmounting and detaching again; the volume table
// kept as a checksummed JSON file inside that file system; volumes that are
// files opened with O_DIRECT; and the loop device's IO counters, since IO
// the kernel does for the file system never passes through snapbench's own
// device and its counters. Base holds what every such engine keeps the same
// way (the mounted file system, the table, the lock, formatting, opening,
// committing, creating a volume, checking the table); Engine is a peer over
// a Backend (btrfs, xfs-reflink) and qcow2 its own engine on Base.
//
// What it is not: a mechanism. The snapshots and clones are the kernel's
// (btrfs subvolume snapshots, XFS reflinks) or qemu's (qcow2 backing
// chains); each engine package says which. Nothing here can be crashed by
// the conformance suite's memory device: a kernel file system keeps its
// own state.
package peer
