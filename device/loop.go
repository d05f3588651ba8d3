package device

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is a regular file attached as a loop block device. Attach it with
// AttachLoop; Detach (or Close) releases it. Loop devices need root.
type Loop struct {
	// Path is the loop device node, e.g. /dev/loop3.
	Path    string
	Backing string
	// Offset and SizeLimit are the window of the backing file the device
	// shows (LoopOptions).
	Offset, SizeLimit int64
	// DirectIO reports whether the loop driver does direct IO to the backing
	// file (LO_FLAGS_DIRECT_IO), so the page cache is not in the path.
	DirectIO bool
	dev      *os.File
}

// LoopOptions configures AttachLoop.
type LoopOptions struct {
	BlockSize int  // logical block size of the loop device: 512 (default) or 4096
	Buffered  bool // do not ask for LO_FLAGS_DIRECT_IO
	// Offset is where in the backing file the loop device starts (0: the
	// beginning). It must be a multiple of BlockSize.
	Offset int64
	// SizeLimit caps the loop device's size in bytes (0: up to the end of
	// the backing file). It must be a multiple of BlockSize.
	SizeLimit int64
}

// AttachLoop attaches the regular file at backing to a free loop device, with
// direct IO unless opts.Buffered. It returns ErrNotRoot when not run as root.
// The device is created with autoclear, so it also goes away if the process
// dies.
func AttachLoop(backing string, opts LoopOptions) (*Loop, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: attaching a loop device", ErrNotRoot)
	}
	if opts.BlockSize == 0 {
		opts.BlockSize = 512
	}
	bs := int64(opts.BlockSize)
	if opts.Offset < 0 || opts.SizeLimit < 0 || opts.Offset%bs != 0 || opts.SizeLimit%bs != 0 {
		return nil, fmt.Errorf("%w: loop offset %d and size limit %d must be non-negative multiples of the block size %d",
			ErrBadSize, opts.Offset, opts.SizeLimit, opts.BlockSize)
	}
	file, err := os.OpenFile(backing, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("device: loop backing file: %w", err)
	}
	defer file.Close() // the loop driver holds its own reference
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("device: open /dev/loop-control: %w", err)
	}
	defer ctl.Close()
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("device: LOOP_CTL_GET_FREE: %w", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			err := unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(7, uint32(n))))
			if err != nil && !errors.Is(err, unix.EEXIST) { // EEXIST: devtmpfs or a concurrent attacher made it
				return nil, fmt.Errorf("device: mknod %s: %w", path, err)
			}
		}
		dev, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("device: open %s: %w", path, err)
		}
		cfg := unix.LoopConfig{Fd: uint32(file.Fd()), Size: uint32(opts.BlockSize)}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		cfg.Info.Offset, cfg.Info.Sizelimit = uint64(opts.Offset), uint64(opts.SizeLimit)
		if !opts.Buffered {
			cfg.Info.Flags |= unix.LO_FLAGS_DIRECT_IO
		}
		copy(cfg.Info.File_name[:], backing)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) { // another process took it: try the next
			dev.Close()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("device: LOOP_CONFIGURE %s: %w", path, err)
		}
		l := &Loop{Path: path, Backing: backing, Offset: opts.Offset, SizeLimit: opts.SizeLimit, dev: dev}
		if st, err := unix.IoctlLoopGetStatus64(int(dev.Fd())); err == nil {
			l.DirectIO = st.Flags&unix.LO_FLAGS_DIRECT_IO != 0
		}
		return l, nil
	}
	return nil, fmt.Errorf("device: no free loop device after 20 attempts")
}

// Detach releases the loop device. It is safe to call more than once.
func (l *Loop) Detach() error {
	if l.dev == nil {
		return nil
	}
	fd := int(l.dev.Fd())
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.LOOP_CLR_FD, 0); errno == 0 || errno == unix.ENXIO {
			err = nil
			break
		} else {
			err = errno // EBUSY while someone still has it open: autoclear will finish the job
			time.Sleep(20 * time.Millisecond)
		}
	}
	cerr := l.dev.Close()
	l.dev = nil
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("device: detach %s: %w", l.Path, err)
	}
	return cerr
}

// Close is Detach.
func (l *Loop) Close() error { return l.Detach() }
