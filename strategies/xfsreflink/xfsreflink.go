package xfsreflink

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/peer"
)

const name = "xfs-reflink"

func init() {
	strategies.Register(peer.Factory(backend{}, "Linux XFS with reflink on the device: a volume is a file; snapshot/clone are FICLONE copies (real-system peer)"))
}

// Requirements returns nil when this machine can run the engine, else an
// error wrapping strategies.ErrUnsupported saying what is missing.
func Requirements() error {
	return peer.Require(name, "xfs", map[string]string{"mkfs.xfs": "xfsprogs"})
}

type backend struct{}

func (backend) Name() string { return name }

func (backend) Requirements() error { return Requirements() }

func (backend) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

func (backend) FS() peer.FSSpec {
	return peer.FSSpec{Type: "xfs", Mkfs: func(path string, sector int) []string { return peer.MkfsXFS(path, sector, true) }}
}

func (backend) Entry(id strategies.VolumeID) string {
	return strconv.FormatUint(uint64(id), 10) + ".img"
}

func (b backend) DataFile(id strategies.VolumeID) string {
	return filepath.Join(peer.VolDir, b.Entry(id))
}

// Make creates a sparse file of the volume's size.
func (backend) Make(root string, r peer.Record) error {
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

// Copy reflinks the source file into a new file (FICLONE), then makes a
// snapshot's file read-only.
func (backend) Copy(root string, src, dst peer.Record) error {
	in, err := os.Open(filepath.Join(root, src.File))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(root, dst.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
	if err != nil {
		err = fmt.Errorf("FICLONE: %w", err)
	} else if dst.ReadOnly {
		err = out.Chmod(0o400)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func (backend) Remove(root string, r peer.Record) error {
	err := os.Remove(filepath.Join(root, r.File))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// Verify checks that a snapshot's file is not writable, and a clone's or
// base's is.
func (backend) Verify(root string, r peer.Record) error {
	st, err := os.Stat(filepath.Join(root, r.File))
	if err != nil {
		return err
	}
	if ro := st.Mode().Perm()&0o222 == 0; ro != r.ReadOnly {
		return fmt.Errorf("%s has mode %v, volume read-only %v", r.File, st.Mode().Perm(), r.ReadOnly)
	}
	return nil
}

func (backend) Space(fs *peer.FS, t *peer.Table) (strategies.Space, error) {
	return peer.StatfsSpace(fs, t, -1)
}
