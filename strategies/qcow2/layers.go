package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/snapbench/snapbench/strategies/internal/peer"
)

// LayerDir holds every qcow2 image, named by a number never reused; a
// backing file is named relative to it, so the chain survives the mount
// point changing.
const LayerDir = "layers"

func layerName(n uint64) string { return filepath.Join(LayerDir, strconv.FormatUint(n, 10)+".qcow2") }

// newLayer creates a qcow2 image of size bytes with clusters of chunk
// bytes, an overlay of backing (a layer name, or "" for none). The backing
// image is not opened (-u): it may be in use by a running qemu-nbd.
func newLayer(root, name, backing string, size int64, chunk int) error {
	args := []string{"create", "-q", "-f", "qcow2", "-o", "cluster_size=" + strconv.Itoa(chunk)}
	if backing != "" {
		args = append(args, "-u", "-F", "qcow2", "-b", filepath.Base(backing))
	}
	args = append(args, filepath.Join(root, name), strconv.FormatInt(size, 10))
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		os.Remove(filepath.Join(root, name))
		return fmt.Errorf("qemu-img %v: %w: %s", args, peer.NoSpace(err), bytes.TrimSpace(out))
	}
	return nil
}

// header is what Check reads of a qcow2 image: its virtual size and
// backing file name.
type header struct {
	size    int64
	backing string
}

// readHeader parses a qcow2 header (QEMU's docs/interop/qcow2.txt):
// magic "QFI\xfb", version, backing file offset (u64 at 8) and length
// (u32 at 16), virtual size (u64 at 24), all big endian.
func readHeader(path string) (header, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	var b [32]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return header{}, fmt.Errorf("%s: qcow2 header: %w", path, err)
	}
	if string(b[:4]) != "QFI\xfb" {
		return header{}, fmt.Errorf("%s: not a qcow2 image", path)
	}
	h := header{size: int64(binary.BigEndian.Uint64(b[24:]))}
	off, n := int64(binary.BigEndian.Uint64(b[8:])), binary.BigEndian.Uint32(b[16:])
	if off != 0 {
		if n > 1023 {
			return header{}, fmt.Errorf("%s: backing file name of %d bytes", path, n)
		}
		name := make([]byte, n)
		if _, err := f.ReadAt(name, off); err != nil {
			return header{}, fmt.Errorf("%s: backing file name: %w", path, err)
		}
		h.backing = string(name)
	}
	return h, nil
}

// refs counts, for every layer, the volumes whose top it is and the layers
// backed by it.
func refs(t *peer.Table) map[string]int {
	r := make(map[string]int, len(t.Layers))
	for _, v := range t.Vols {
		r[v.File]++
	}
	for _, l := range t.Layers {
		if l.Backing != "" {
			r[l.Backing]++
		}
	}
	return r
}

// unreferenced drops from t every layer nothing refers to any more (a
// volume deleted: its top, then what only that top was backed by) and
// returns their names.
func unreferenced(t *peer.Table) []string {
	var gone []string
	for {
		r := refs(t)
		keep := t.Layers[:0]
		n := len(gone)
		for _, l := range t.Layers {
			if r[l.File] == 0 {
				gone = append(gone, l.File)
				continue
			}
			keep = append(keep, l)
		}
		t.Layers = keep
		if len(gone) == n {
			return gone
		}
	}
}

// layerOf returns the layer entry of name.
func layerOf(t *peer.Table, name string) *peer.Layer {
	for i := range t.Layers {
		if t.Layers[i].File == name {
			return &t.Layers[i]
		}
	}
	return nil
}

// allocated is the space a file holds on the file system.
func allocated(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Blocks * 512
	}
	return st.Size()
}
