// Package device is snapbench's block-device layer: the Device contract that
// every engine reads and writes through, the real implementation for regular
// files and block devices opened with O_DIRECT, and the test doubles that live
// beside it.
//
// What it is:
//   - File: a regular file (created sparse or extended to a requested size) or a
//     block device, opened with direct IO. Block devices are opened O_EXCL and
//     refused when mounted, held, or carrying a filesystem, partition table, LVM
//     or swap signature, unless the caller forces it; a regular file is
//     refused when it carries such a signature or a loop device serves it
//     (LoopsOver). Nothing is written before those checks pass.
//   - Mem: a sparse in-memory device with a crash model (CrashClone keeps what
//     was flushed plus a random fraction of unflushed sector writes).
//   - Faulty: a wrapper whose Injector decides per operation whether it fails,
//     is corrupted, or is silently dropped.
//   - Counting: a wrapper that counts reads, writes, bytes, flushes and
//     discards exactly.
//   - Null: writes vanish and reads return zeros; the harness ceiling.
//   - Sub: a window onto part of another device.
//   - Loop: attaching a file as a loop device with direct IO (Linux, root).
//
// What it is not: a cache or a scheduler. Every call goes to the device as it
// is made; callers own alignment (see Device) and buffers (see Alloc).
package device
