package peer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// FSSpec says which file system a peer lays on its area and how.
type FSSpec struct {
	Type string // kernel file system name: "btrfs", "xfs"
	// Mkfs returns the command that formats the loop device at path whose
	// logical sector is sector bytes.
	Mkfs func(path string, sector int) []string
	// MountData is the file-system-specific mount option string.
	MountData string
}

// MkfsXFS is the mkfs.xfs command of the XFS-based peers: no discard of
// the new device, sectors of the snapbench device's size (so direct IO of
// that size works), reflink on or off.
func MkfsXFS(path string, sector int, reflink bool) []string {
	r := "reflink=0"
	if reflink {
		r = "reflink=1"
	}
	return []string{"mkfs.xfs", "-f", "-q", "-K", "-m", r, "-s", "size=" + strconv.Itoa(sector), path}
}

// FS is a kernel file system laid on the engine area of a snapbench device:
// a loop device over the area's window of the backing file or block device,
// mounted at Root, a private temporary directory. Close always unmounts and
// detaches. Methods other than Close are safe for concurrent use.
type FS struct {
	Root   string
	Loop   *device.Loop
	Sector int // the snapbench device's sector size: volumes' IO alignment
	base   loopStat
}

// location finds the file or block device under dev and where dev starts in
// it. Sub windows add their offsets; every other wrapper (counting, fault
// injection) must keep offsets as they are. Any other device (memory, an
// engine's volume, NBD) fails with an error wrapping both
// strategies.ErrUnsupported and device.ErrNotDevice, which callers that
// format on a scratch memory device to validate options can recognise.
func location(engine string, dev device.Device) (path string, off int64, err error) {
	for cur := dev; ; {
		if s, ok := cur.(*device.Sub); ok {
			off += s.Offset()
		}
		w, ok := cur.(device.Wrapper)
		if !ok {
			f, isFile := cur.(*device.File)
			if !isFile || f.Info().Path == "" {
				return "", 0, fmt.Errorf("%s: %w: %w: the engine needs a file or block device (got %T): its kernel file system sits on a loop device over it",
					engine, strategies.ErrUnsupported, device.ErrNotDevice, cur)
			}
			return f.Info().Path, off, nil
		}
		cur = w.Unwrap()
	}
}

// CheckDevice fails, with an error wrapping strategies.ErrUnsupported and
// device.ErrNotDevice, when dev is not a window of a file or block device.
// Peers call it before Require, so formatting on a memory device (to
// validate options) fails the same way on every machine.
func CheckDevice(engine string, dev device.Device) error {
	_, _, err := location(engine, dev)
	return err
}

// Mount attaches a loop device over dev's window of its backing file or
// block device, formats it with spec.Mkfs when format is set, and mounts
// it. On error nothing stays attached or mounted.
func Mount(engine string, dev device.Device, spec FSSpec, format bool) (fs *FS, err error) {
	path, off, err := location(engine, dev)
	if err != nil {
		return nil, err
	}
	sector := dev.SectorSize()
	if sector < 512 || sector > 4096 || sector&(sector-1) != 0 {
		return nil, fmt.Errorf("%s: %w: %d-byte sectors (loop devices take 512 to 4096)", engine, strategies.ErrUnsupported, sector)
	}
	loop, err := device.AttachLoop(path, device.LoopOptions{BlockSize: sector, Offset: off, SizeLimit: dev.Size()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", engine, err)
	}
	fs = &FS{Loop: loop, Sector: sector}
	defer func() {
		if err != nil {
			fs.Close()
		}
	}()
	if format {
		cmd := spec.Mkfs(loop.Path, sector)
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w\n%s", engine, strings.Join(cmd, " "), err, bytesTail(out))
		}
	}
	if fs.Root, err = os.MkdirTemp("", "snapbench-"+engine+"-"); err != nil {
		return nil, fmt.Errorf("%s: mount point: %w", engine, err)
	}
	if err := unix.Mount(loop.Path, fs.Root, spec.Type, unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, spec.MountData); err != nil {
		os.Remove(fs.Root)
		fs.Root = ""
		if !format && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EUCLEAN) || errors.Is(err, unix.EIO)) {
			return nil, fmt.Errorf("%s: mount %s of %s: %w: %v", engine, spec.Type, loop.Path, strategies.ErrCorrupt, err)
		}
		return nil, fmt.Errorf("%s: mount %s of %s: %w", engine, spec.Type, loop.Path, err)
	}
	fs.base = readLoopStat(loop.Path)
	return fs, nil
}

// Sync makes everything written to the file system durable (syncfs).
func (fs *FS) Sync() error {
	fd, err := unix.Open(fs.Root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// Statfs returns the mounted file system's statfs.
func (fs *FS) Statfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	err := unix.Statfs(fs.Root, &st)
	return st, err
}

// Close unmounts (lazily if the file system stays busy) and detaches the
// loop device, then removes the mount point. It is safe to call twice.
func (fs *FS) Close() error {
	var errs []error
	if fs.Root != "" {
		err := unix.Unmount(fs.Root, 0)
		for i := 0; errors.Is(err, unix.EBUSY) && i < 50; i++ {
			time.Sleep(20 * time.Millisecond)
			err = unix.Unmount(fs.Root, 0)
		}
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(fs.Root, unix.MNT_DETACH)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", fs.Root, err))
		} else if err := os.Remove(fs.Root); err != nil {
			errs = append(errs, err)
		}
		fs.Root = ""
	}
	if fs.Loop != nil {
		errs = append(errs, fs.Loop.Detach())
		fs.Loop = nil
	}
	return errors.Join(errs...)
}

func bytesTail(out []byte) string {
	const keep = 2000
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return strings.TrimSpace(string(out))
}
