// Package xfsreflink is the real-system peer engine "xfs-reflink": the
// engine area of the device (after the snapbench superblock) is formatted
// with mkfs.xfs -m reflink=1 through a loop device at that offset and
// mounted in a private temporary directory; each volume is a sparse file
// opened with O_DIRECT; a clone is a new file sharing every extent of the
// source (the FICLONE ioctl, as cp --reflink does), and a snapshot the same
// with the file then made read-only (mode 0400, and refused writes).
// Writes to a shared extent are redirected by XFS to new blocks
// (copy-on-write of whole file system blocks, or of the extent size hint's
// worth), so the source is never copied into its copies.
//
// Caps: everything (snapshot, clone, nested, deleting a parent, many
// volumes, thin). What it cannot do: a reflink copy takes time proportional
// to the source's number of extents (not O(1) like a btrfs snapshot), and
// holds the source's IO lock meanwhile; the chunk size does not change the
// mechanism (XFS shares 4 KiB blocks; the chunk size only constrains volume
// sizes); VolumeInfo.PrivateBytes is not measured; Space.Metadata is the
// space the file system used right after mkfs (log, allocation group
// headers), its B+trees' growth counts as data; crash tests cannot be run
// on a kernel file system.
//
// Needs: root, the loop driver, the kernel's xfs with reflink support
// (Linux 4.16 or later), and mkfs.xfs (Debian: xfsprogs); mkfs.xfs refuses
// file systems under 300 MB, so the device must be a little larger. Without
// them Format and Open fail with an error wrapping strategies.ErrUnsupported
// that says what is missing.
//
// Counting: snapbench's device counters see none of XFS's IO (it goes
// through the loop device straight to the backing file). The engine
// reports the loop device's counters since mount through
// strategies.Statser (fs_read_bytes, fs_write_bytes, fs_flush_ios, ...).
//
// Cleanup: Close closes every handle, unmounts (lazily if still busy) and
// detaches the loop device, also after errors; a killed process leaves the
// mount behind (umount /tmp/snapbench-xfs-reflink-*).
package xfsreflink
