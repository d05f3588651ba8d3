package device

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ncw/directio"
	"golang.org/x/sys/unix"
)

// DirectMode says how Open uses O_DIRECT.
type DirectMode uint8

const (
	// DirectRequired (the default) opens with O_DIRECT and fails with
	// ErrNoDirectIO where the file system refuses it.
	DirectRequired DirectMode = iota
	// DirectPreferred falls back to buffered IO where O_DIRECT is refused;
	// Info().DirectIO tells which was used.
	DirectPreferred
	// DirectOff uses buffered IO (page cache): numbers are then not device
	// numbers, and results say so.
	DirectOff
)

// Options configures Open.
type Options struct {
	// Size, for regular files: create the file if missing, or extend it,
	// sparse, to this many bytes. 0 uses the existing file's size. Ignored
	// for block devices except that it must not exceed the device.
	Size int64
	// Force overrides the safety rules (signatures, mounts, holders).
	Force bool
	// Direct selects O_DIRECT behaviour.
	Direct DirectMode
	// ReadOnly opens for reading only (used by listing and checks).
	ReadOnly bool
}

// File is a regular file or block device opened for direct IO. It is safe for
// concurrent use.
type File struct {
	f      *os.File
	info   Info
	closed atomic.Bool
	ring   *uring // nil: pread/pwrite (see SetIOEngine)
	// ringActive counts the reads and writes in progress while ring is
	// set. While no more than directMax are (GOMAXPROCS: see SetIOEngine)
	// and the ring has nothing in flight, each is a plain pread/pwrite, the
	// shortest path: through the ring, the hand-off to the ring thread and
	// back costs more per 4 KiB IO than the IO itself on a fast device
	// (BenchmarkFileEngineQD1). Beyond that they go through the ring, where
	// no waiting goroutine holds a thread, and they keep going there until
	// it drains: at a queue depth just above directMax, mixing direct calls
	// that hold every P with a ring thread that then waits for one cost up
	// to 15% and doubled p99. Measured on 2 cores, 4 KiB random writes,
	// interleaved trials against the ring alone: queue depth 2 +31-39% IOPS
	// on a direct-IO loop device and +65-85% on an ext4 file; 3, 4 and 8
	// the same within noise.
	ringActive atomic.Int32
	directMax  int32 // see ringActive; 0 without a ring
	// directRaw makes those direct pread/pwrite calls raw system calls,
	// which keep the caller's P while its thread waits in the kernel
	// instead of going through the runtime's syscall entry and exit: 4 KiB
	// at queue depth 1 on a file, 1-6% less time per IO
	// (BenchmarkFileEngineQD1, uring-file against uring-file-syscall) and
	// in a bare loop up to 15% more IOPS, the same as fio's psync. The
	// price: while every P waits in one, the runtime runs nothing else (a
	// timer, a stop-the-world waits for an IO to end). SetIOEngine sets it
	// when GOMAXPROCS > 1.
	directRaw  bool
	ringAlways bool // tests and benchmarks: every request through the ring
	fd         int32
}

// Open opens a regular file or a block device as a Device, applying the
// safety rules first (see Probe); nothing is written before they pass. A
// missing regular file is created when opts.Size > 0. With opts.ReadOnly
// the device is opened O_RDONLY (so an immutable file or a read-only block
// device can be read) and the safety rules do not apply: reading destroys
// nothing. Open takes no lock: see OpenLocked.
func Open(path string, opts Options) (*File, error) {
	st, err := os.Stat(path)
	created := false
	switch {
	case errors.Is(err, os.ErrNotExist):
		if opts.Size <= 0 || opts.ReadOnly {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
		}
		created = true
	case err != nil:
		return nil, fmt.Errorf("device: %s: %w", path, unwrapPath(err))
	case st.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotDevice, path)
	case st.Mode().IsRegular():
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		return openBlock(path, opts)
	default:
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotDevice, path, st.Mode().Type())
	}
	if opts.Size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrBadSize, opts.Size)
	}
	if !created && !opts.Force && !opts.ReadOnly {
		reasons, err := fileRefusalReasons(path, st.Size())
		if err != nil {
			return nil, err
		}
		if len(reasons) > 0 {
			return nil, fmt.Errorf("%w: %s %s (use --force to overwrite)", ErrRefused, path, joinReasons(reasons))
		}
	}
	return openFile(path, opts, created)
}

func openFlags(opts Options, direct bool) int {
	flags := os.O_RDWR
	if opts.ReadOnly {
		flags = os.O_RDONLY
	}
	if direct {
		flags |= unix.O_DIRECT
	}
	return flags
}

// openWithDirect opens path honouring the direct mode; it reports whether
// O_DIRECT is in use.
func openWithDirect(path string, flags int, opts Options) (*os.File, bool, error) {
	if opts.Direct == DirectOff {
		f, err := os.OpenFile(path, flags, 0o644)
		return f, false, err
	}
	f, err := directio.OpenFile(path, flags|unix.O_DIRECT, 0o644)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	if opts.Direct == DirectRequired {
		return nil, false, fmt.Errorf("%w: %s (its file system refuses O_DIRECT; choose a file on a disk-backed file system)", ErrNoDirectIO, path)
	}
	if flags&os.O_CREATE != 0 {
		// The kernel refuses O_DIRECT only after O_CREATE|O_EXCL has created
		// the file: it is ours, so do not ask for it to be new again. (O_EXCL
		// is kept for block devices, where it means an exclusive open.)
		flags &^= os.O_EXCL
	}
	f, err = os.OpenFile(path, flags, 0o644)
	return f, false, err
}

func openFile(path string, opts Options, created bool) (*File, error) {
	flags := openFlags(opts, false)
	if created {
		flags |= os.O_CREATE | os.O_EXCL
	}
	f, direct, err := openWithDirect(path, flags, opts)
	if err != nil {
		if created && !errors.Is(err, os.ErrExist) {
			// An O_DIRECT refusal comes after the file was created; do not
			// leave an empty file behind. (ErrExist: someone else's file.)
			os.Remove(path)
		}
		if errors.Is(err, ErrNoDirectIO) {
			return nil, err
		}
		return nil, fmt.Errorf("device: open %s: %w", path, unwrapPath(err))
	}
	fail := func(err error) (*File, error) {
		f.Close()
		if created {
			os.Remove(path)
		}
		return nil, err
	}
	sector, memAlign := fileDIOAlign(path)
	st, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("device: stat %s: %w", path, err))
	}
	size := st.Size()
	if opts.Size > 0 {
		if opts.Size%int64(sector) != 0 {
			return fail(fmt.Errorf("%w: %d is not a multiple of the sector size %d", ErrBadSize, opts.Size, sector))
		}
		if opts.Size > size {
			if opts.ReadOnly {
				return fail(fmt.Errorf("%w: %s is %d bytes, %d requested read-only", ErrBadSize, path, size, opts.Size))
			}
			if err := f.Truncate(opts.Size); err != nil {
				return fail(fmt.Errorf("device: extend %s to %d: %w", path, opts.Size, err))
			}
		}
		size = opts.Size
	}
	if size == 0 || size%int64(sector) != 0 {
		return fail(fmt.Errorf("%w: %s is %d bytes; need a non-zero multiple of the sector size %d", ErrBadSize, path, size, sector))
	}
	return &File{f: f, info: Info{Path: path, Kind: KindFile, Size: size, LogicalSector: sector,
		PhysicalSector: sector, MemAlign: memAlign, DirectIO: direct, Discard: true}}, nil
}

// fileDIOAlign asks statx for the file's direct-IO alignment; it falls back to
// 4096 when the kernel or file system does not say.
func fileDIOAlign(path string) (sector, memAlign int) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_DIOALIGN, &stx); err == nil &&
		stx.Mask&unix.STATX_DIOALIGN != 0 && stx.Dio_offset_align > 0 {
		return int(stx.Dio_offset_align), max(int(stx.Dio_mem_align), 1)
	}
	return 4096, 4096
}

func openBlock(path string, opts Options) (*File, error) {
	if !opts.Force && !opts.ReadOnly {
		if reasons := refusalReasons(path); len(reasons) > 0 {
			return nil, fmt.Errorf("%w: %s: %s (use --force to override)", ErrRefused, path, joinReasons(reasons))
		}
	}
	flags := openFlags(opts, false)
	if !opts.ReadOnly {
		flags |= os.O_EXCL // the kernel refuses if mounted or held by another opener
	}
	f, direct, err := openWithDirect(path, flags, opts)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%w: %s is in use (mounted, held or opened exclusively elsewhere)", ErrRefused, path)
		}
		if errors.Is(err, ErrNoDirectIO) {
			return nil, err
		}
		return nil, fmt.Errorf("device: open %s: %w", path, unwrapPath(err))
	}
	info, err := blockInfo(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	info.DirectIO = direct
	if ro, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET); err == nil && ro != 0 && !opts.ReadOnly {
		f.Close()
		return nil, fmt.Errorf("%w: %s is a read-only block device; only check, volume list and serve --read-only can use it", ErrRefused, path)
	}
	if info.Size == 0 {
		f.Close()
		return nil, fmt.Errorf("%w: %s has size 0 (an unattached loop device?)", ErrBadSize, path)
	}
	if opts.Size > 0 {
		if opts.Size > info.Size || opts.Size%int64(info.LogicalSector) != 0 {
			f.Close()
			return nil, fmt.Errorf("%w: %d requested on %s of %d bytes with %d-byte sectors", ErrBadSize, opts.Size, path, info.Size, info.LogicalSector)
		}
		info.Size = opts.Size
	}
	return &File{f: f, info: info}, nil
}

func blockInfo(f *os.File, path string) (Info, error) {
	fd := int(f.Fd())
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		return Info{}, fmt.Errorf("device: BLKGETSIZE64 %s: %w", path, err)
	}
	lss, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return Info{}, fmt.Errorf("device: BLKSSZGET %s: %w", path, err)
	}
	pss, err := unix.IoctlGetInt(fd, unix.BLKPBSZGET)
	if err != nil {
		pss = lss
	}
	info := Info{Path: path, Kind: KindBlock, Size: int64(size), LogicalSector: lss, PhysicalSector: pss,
		MemAlign: lss, Discard: true}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		sys := sysfsInfo(unix.Major(st.Rdev), unix.Minor(st.Rdev))
		info.Rotational, info.Model, info.Backing = sys.rotational, sys.model, sys.backing
		info.Discard = sys.discard
	}
	return info, nil
}

// viaRing counts one more read or write in progress (the caller undoes it
// when it ends) and reports whether it goes through the ring rather than a
// direct call: see ringActive. Only with a ring.
func (d *File) viaRing() bool {
	return d.ringActive.Add(1) > d.directMax || d.ring.inflight.Load() > 0 || d.ringAlways
}

func (d *File) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, d.info.LogicalSector, d.info.MemAlign, d.info.Size); err != nil {
		return 0, err
	}
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if d.ring != nil {
		defer d.ringActive.Add(-1)
		if d.viaRing() {
			return d.ringRW(uringOpRead, p, off)
		}
		if d.directRaw {
			return d.rawRW(uringOpRead, p, off)
		}
	}
	n, err := d.f.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("device: read %s at %d: %w", d.info.Path, off, err)
	}
	return n, nil
}

func (d *File) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, d.info.LogicalSector, d.info.MemAlign, d.info.Size); err != nil {
		return 0, err
	}
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if d.ring != nil {
		defer d.ringActive.Add(-1)
		if d.viaRing() {
			return d.ringRW(uringOpWrite, p, off)
		}
		if d.directRaw {
			return d.rawRW(uringOpWrite, p, off)
		}
	}
	n, err := d.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("device: write %s at %d: %w", d.info.Path, off, err)
	}
	return n, nil
}

// Flush is fdatasync: on return every acknowledged write is durable (the
// kernel issues a cache flush to the drive).
func (d *File) Flush() error {
	if d.closed.Load() {
		return ErrClosed
	}
	if d.ring != nil {
		return d.ringFlush()
	}
	if err := unix.Fdatasync(int(d.f.Fd())); err != nil {
		return fmt.Errorf("device: fdatasync %s: %w", d.info.Path, err)
	}
	return nil
}

// Discard punches a hole (files) or issues BLKDISCARD (block devices).
func (d *File) Discard(off, n int64) error {
	if err := CheckRange(off, n, d.info.LogicalSector, d.info.Size); err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	var err error
	if d.info.Kind == KindBlock {
		r := [2]uint64{uint64(off), uint64(n)}
		err = ioctlPtr(int(d.f.Fd()), unix.BLKDISCARD, &r)
	} else {
		err = unix.Fallocate(int(d.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	if err != nil {
		return fmt.Errorf("device: discard %s %d+%d: %w", d.info.Path, off, n, err)
	}
	return nil
}

// Zero makes the range read as zeros: BLKZEROOUT on block devices; on a
// sparse file (fewer blocks allocated than its size) a hole punch, which
// allocates nothing (FALLOC_FL_ZERO_RANGE would allocate the whole range
// for real, and on a large sparse test file can fill the file system under
// it); on a fully allocated file FALLOC_FL_ZERO_RANGE, which keeps the
// blocks allocated as a device would (a hole punch where that is refused).
func (d *File) Zero(off, n int64) error {
	if err := CheckRange(off, n, d.info.LogicalSector, d.info.Size); err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	var err error
	if d.info.Kind == KindBlock {
		r := [2]uint64{uint64(off), uint64(n)}
		err = ioctlPtr(int(d.f.Fd()), unix.BLKZEROOUT, &r)
	} else {
		fd := int(d.f.Fd())
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil && st.Blocks*512 < st.Size {
			err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		} else {
			err = unix.Fallocate(fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
			if err != nil {
				err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("device: zero %s %d+%d: %w", d.info.Path, off, n, err)
	}
	return nil
}

func (d *File) Size() int64     { return d.info.Size }
func (d *File) SectorSize() int { return d.info.LogicalSector }
func (d *File) Info() Info {
	info := d.info
	info.IOEngine = string(d.engine())
	if d.ring != nil {
		info.IOSetup = d.ring.setupNames()
	}
	return info
}

// Close closes the file descriptor; it does not flush.
func (d *File) Close() error {
	if d.closed.Swap(true) {
		return ErrClosed
	}
	if d.ring != nil {
		d.ring.close() // waits for the IO in flight
	}
	return d.f.Close()
}
