package peer

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// FileVolume is a volume that is a file opened with O_DIRECT on the peer's
// file system. IO must be aligned to the snapbench device's sector size
// (the loop device's logical block size); where the file system's own
// block is larger (btrfs, 4 KiB) the kernel serves smaller direct IO
// buffered, as it would for any application. ReadAt, WriteAt and Flush are
// safe for concurrent use; Flush is fdatasync. Close closes the file and
// does not flush.
type FileVolume struct {
	lifecycle.Handle
	engine   string
	id       strategies.VolumeID
	f        *os.File
	size     int64
	sector   int
	readOnly bool
}

// OpenFile opens path as volume id of size bytes. release runs once, at
// Close.
func OpenFile(engine string, id strategies.VolumeID, path string, size int64, sector int, readOnly bool, release func(*FileVolume)) (*FileVolume, error) {
	flags := os.O_RDWR
	if readOnly {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flags|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open volume %d: %w", engine, id, err)
	}
	v := &FileVolume{engine: engine, id: id, f: f, size: size, sector: sector, readOnly: readOnly}
	v.Init(fmt.Sprintf("%s: volume %d", engine, id), nil, func() error {
		err := f.Close()
		if release != nil {
			release(v)
		}
		return err
	})
	return v, nil
}

func (v *FileVolume) ID() strategies.VolumeID { return v.id }
func (v *FileVolume) Size() int64             { return v.size }
func (v *FileVolume) SectorSize() int         { return v.sector }

func (v *FileVolume) ReadAt(p []byte, off int64) (int, error) {
	if err := v.CheckIO(p, off, v.sector, v.sector, v.size); err != nil {
		return 0, err
	}
	n, err := v.f.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("%s: read volume %d at %d: %w", v.engine, v.id, off, err)
	}
	return n, nil
}

func (v *FileVolume) WriteAt(p []byte, off int64) (int, error) {
	if err := v.CheckIO(p, off, v.sector, v.sector, v.size); err != nil {
		return 0, err
	}
	if v.readOnly {
		return 0, fmt.Errorf("%s: volume %d: %w", v.engine, v.id, strategies.ErrReadOnly)
	}
	n, err := v.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("%s: write volume %d at %d: %w", v.engine, v.id, off, noSpace(err))
	}
	return n, nil
}

// Flush is fdatasync of the volume's file.
func (v *FileVolume) Flush() error {
	if err := v.Err(); err != nil {
		return err
	}
	if v.readOnly {
		return nil
	}
	if err := unix.Fdatasync(int(v.f.Fd())); err != nil {
		return fmt.Errorf("%s: flush volume %d: %w", v.engine, v.id, noSpace(err))
	}
	return nil
}

// noSpace wraps ENOSPC and EDQUOT with strategies.ErrNoSpace.
func noSpace(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w: %v", strategies.ErrNoSpace, err)
	}
	return err
}

// NoSpace is noSpace for the engine packages.
func NoSpace(err error) error { return noSpace(err) }
