package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/peer"
)

const name = "btrfs"

func init() {
	strategies.Register(peer.Factory(backend{}, "Linux btrfs on the device: a volume is a file in a subvolume; snapshot/clone are subvolume snapshots (real-system peer)"))
}

// Requirements returns nil when this machine can run the engine, else an
// error wrapping strategies.ErrUnsupported saying what is missing.
func Requirements() error {
	return peer.Require(name, "btrfs", map[string]string{"mkfs.btrfs": "btrfs-progs"})
}

type backend struct{}

func (backend) Name() string { return name }

func (backend) Requirements() error { return Requirements() }

func (backend) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

func (backend) FS() peer.FSSpec {
	return peer.FSSpec{Type: "btrfs", Mkfs: func(path string, sector int) []string {
		return []string{"mkfs.btrfs", "-f", "-q", "--nodiscard", path}
	}}
}

func (backend) Entry(id strategies.VolumeID) string { return strconv.FormatUint(uint64(id), 10) }

func (b backend) DataFile(id strategies.VolumeID) string {
	return filepath.Join(peer.VolDir, b.Entry(id), "data")
}

// Make creates the volume's subvolume and its sparse data file.
func (b backend) Make(root string, r peer.Record) error {
	if err := withDir(filepath.Join(root, peer.VolDir), func(dir int) error {
		return volArgsIoctl(dir, iocSubvolCreate, b.Entry(r.ID))
	}); err != nil {
		return fmt.Errorf("create subvolume: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(root, r.File), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(r.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Copy snapshots the source's subvolume (read-only for a snapshot).
func (b backend) Copy(root string, src, dst peer.Record) error {
	srcFd, err := unix.Open(filepath.Join(root, peer.VolDir, b.Entry(src.ID)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(srcFd)
	var args volArgsV2
	args.fd = int64(srcFd)
	if dst.ReadOnly {
		args.flags = subvolReadOnly
	}
	copy(args.name[:len(args.name)-1], b.Entry(dst.ID))
	return withDir(filepath.Join(root, peer.VolDir), func(dir int) error {
		err := ioctl(dir, iocSnapCreateV2, unsafe.Pointer(&args))
		runtime.KeepAlive(&args)
		if err != nil {
			return fmt.Errorf("subvolume snapshot: %w", err)
		}
		return nil
	})
}

// Remove deletes the volume's subvolume (or a plain directory left by an
// interrupted create).
func (b backend) Remove(root string, r peer.Record) error {
	entry := filepath.Join(root, peer.VolDir, b.Entry(r.ID))
	var st unix.Stat_t
	if err := unix.Lstat(entry, &st); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if st.Ino != firstFreeObjectID {
		return os.RemoveAll(entry)
	}
	return withDir(filepath.Join(root, peer.VolDir), func(dir int) error {
		if err := volArgsIoctl(dir, iocSnapDestroy, b.Entry(r.ID)); err != nil {
			return fmt.Errorf("delete subvolume: %w", err)
		}
		return nil
	})
}

// Verify checks that the entry is a subvolume, read-only exactly when the
// volume is.
func (b backend) Verify(root string, r peer.Record) error {
	entry := filepath.Join(root, peer.VolDir, b.Entry(r.ID))
	var st unix.Stat_t
	if err := unix.Lstat(entry, &st); err != nil {
		return err
	}
	if st.Ino != firstFreeObjectID {
		return fmt.Errorf("%s is not a subvolume", entry)
	}
	var flags uint64
	if err := withDir(entry, func(fd int) error { return ioctl(fd, iocSubvolGetflags, unsafe.Pointer(&flags)) }); err != nil {
		return fmt.Errorf("subvolume flags: %w", err)
	}
	if ro := flags&subvolReadOnly != 0; ro != r.ReadOnly {
		return fmt.Errorf("subvolume %s read-only %v, volume read-only %v", entry, ro, r.ReadOnly)
	}
	return nil
}

// Space takes data from btrfs's space info (bytes used in data block
// groups) and counts the rest of what statfs says is used as metadata.
func (backend) Space(fs *peer.FS, t *peer.Table) (strategies.Space, error) {
	data, err := dataUsed(fs.Root)
	if err != nil {
		return peer.StatfsSpace(fs, t, -1)
	}
	st, err := fs.Statfs()
	if err != nil {
		return strategies.Space{}, err
	}
	used := int64(st.Blocks-st.Bfree) * st.Bsize
	return peer.StatfsSpace(fs, t, max(used-data, 0))
}
