package rbd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/snapbench/snapbench/strategies"
)

// stray is what the cluster holds of this instance that no volume
// explains: whole images, or snapshots (ours, by their prefix) on images
// the table lists.
type stray struct {
	images []string
	snaps  [][2]string // image, snap
}

// strays compares the instance's images and snapshots with the table;
// problems are what is wrong with the volumes the table lists.
func (e *Engine) strays() (stray, []error, error) {
	imgs, err := e.instanceImages()
	if err != nil {
		return stray{}, nil, err
	}
	var st stray
	var problems []error
	have := map[string]bool{}
	for _, n := range imgs {
		have[n] = true
		if !e.t.imageUsed(n) && !e.t.snapImage(n) {
			st.images = append(st.images, n)
		}
	}
	for _, r := range e.t.Vols {
		if !have[r.Image] {
			problems = append(problems, fmt.Errorf("volume %q: image %s is missing", r.Name, r.Image))
			continue
		}
		if r.Snap != "" {
			continue // checked with its image
		}
		err := e.c.withImage(r.Image, func(im *image) error {
			size, err := im.size()
			if err != nil {
				return err
			}
			if size != r.Size {
				problems = append(problems, fmt.Errorf("volume %q: image %s is %d bytes, want %d", r.Name, r.Image, size, r.Size))
			}
			pi, ps, err := im.parent()
			if err != nil {
				return err
			}
			if pi != r.OriginImage || ps != r.OriginSnap {
				problems = append(problems, fmt.Errorf("volume %q: image %s has parent %s%s, want %s%s", r.Name, r.Image, pi, at(ps), r.OriginImage, at(r.OriginSnap)))
			}
			snaps, err := im.snaps()
			if err != nil {
				return err
			}
			onImage := map[string]bool{}
			for _, s := range snaps {
				onImage[s] = true
				if strings.HasPrefix(s, e.s.prefix+".") && !e.t.snapUsed(r.Image, s) {
					st.snaps = append(st.snaps, [2]string{r.Image, s})
				}
			}
			for _, o := range e.t.Vols {
				for _, s := range []struct{ img, snap string }{{o.Image, o.Snap}, {o.OriginImage, o.OriginSnap}} {
					if s.img == r.Image && s.snap != "" && !onImage[s.snap] {
						problems = append(problems, fmt.Errorf("volume %q: snapshot %s@%s is missing", o.Name, s.img, s.snap))
					}
				}
			}
			return nil
		})
		if err != nil {
			problems = append(problems, fmt.Errorf("volume %q: %w", r.Name, err))
		}
	}
	return st, problems, nil
}

// snapImage reports whether a snapshot volume lives on image (whose own
// volume was deleted: never, since RBD cannot remove an image with
// snapshots, but an old table may say so).
func (t *table) snapImage(image string) bool {
	for _, r := range t.Vols {
		if r.Image == image || r.OriginImage == image {
			return true
		}
	}
	return false
}

// removeOrphans removes what an interrupted operation left behind.
func (e *Engine) removeOrphans() error {
	st, _, err := e.strays()
	if err != nil {
		return err
	}
	for _, s := range st.snaps {
		if err := e.c.withImage(s[0], func(im *image) error { return im.snapRemove(s[1]) }); err != nil {
			return err
		}
	}
	if err := e.c.removeImages(st.images); err != nil {
		return fmt.Errorf("remove stray images: %w", err)
	}
	return nil
}

// Check verifies the engine against the cluster: the table in the pool is
// the one in memory; every volume's image exists with its recorded size
// and RBD parent (the clone's origin snapshot, none once flattened); every
// snapshot a volume uses exists; and no image of this instance, nor a
// snapshot of ours on one, is left that no volume explains. It does not
// read data (scrubbing is the cluster's: ceph osd deep-scrub).
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	var errs []error
	disk, err := e.c.loadTable(e.t.Instance)
	if err != nil {
		return err
	}
	if len(disk.Vols) != len(e.t.Vols) || disk.NextID != e.t.NextID {
		errs = append(errs, fmt.Errorf("the table in the pool (%d volumes, next id %d) differs from the one in memory (%d, %d)",
			len(disk.Vols), disk.NextID, len(e.t.Vols), e.t.NextID))
	}
	st, problems, err := e.strays()
	if err != nil {
		return fmt.Errorf("rbd: check: %w", err)
	}
	errs = append(errs, problems...)
	for _, n := range st.images {
		errs = append(errs, fmt.Errorf("image %s is in no volume record", n))
	}
	for _, s := range st.snaps {
		errs = append(errs, fmt.Errorf("snapshot %s@%s is used by no volume", s[0], s[1]))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rbd: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}
