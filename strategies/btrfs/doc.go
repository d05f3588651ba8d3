// Package btrfs is the real-system peer engine "btrfs": the engine area of
// the device (after the snapbench superblock) is formatted with mkfs.btrfs
// through a loop device at that offset and mounted in a private temporary
// directory; each volume is a file in its own subvolume, opened with
// O_DIRECT; a snapshot is a read-only btrfs subvolume snapshot of the
// source's subvolume and a clone a writable one (BTRFS_IOC_SNAP_CREATE_V2);
// delete is subvolume deletion (BTRFS_IOC_SNAP_DESTROY, whose space the
// kernel's cleaner returns later, in the background). btrfs is a
// redirect-on-write file system with reference-counted extents shared by
// snapshots, the real counterpart of the row engine.
//
// Caps: everything (snapshot, clone, nested, deleting a parent, many
// volumes, thin). What it cannot do: the chunk size does not change the
// mechanism (btrfs shares and copies in its own 4 KiB blocks and extents;
// the chunk size only constrains volume sizes); IO smaller than 4 KiB is
// done buffered by the kernel (btrfs direct IO needs 4 KiB alignment);
// VolumeInfo.PrivateBytes is not measured (that needs quotas or slow
// FIEMAP walks); Space.Metadata is what btrfs's space info does not count
// as data (metadata, system chunks, DUP copies); crash tests cannot be run
// on a kernel file system.
//
// Needs: root, the loop driver, the kernel's btrfs, and mkfs.btrfs
// (Debian: btrfs-progs). Without them Format and Open fail with an error
// wrapping strategies.ErrUnsupported that says what is missing.
//
// Counting: snapbench's device counters see none of btrfs's IO (it goes
// through the loop device straight to the backing file). The engine
// reports the loop device's counters since mount through
// strategies.Statser (fs_read_bytes, fs_write_bytes, fs_flush_ios, ...).
//
// Cleanup: Close closes every handle, unmounts (lazily if still busy) and
// detaches the loop device, also after errors; a killed process leaves the
// mount behind (umount /tmp/snapbench-btrfs-*).
package btrfs
