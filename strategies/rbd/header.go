package rbd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// header is what the engine keeps on its snapbench device: which instance
// (image name prefix and table) in which pool is this engine's. It is
// written once, at Format, in the first sector of the engine area.
type header struct {
	Instance string `json:"instance"`
	Pool     string `json:"pool"`
}

var headerMagic = []byte("snapbench-rbd 1\n")

func writeHeader(dev device.Device, h header) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s%08x\n%s\n", headerMagic, meta.Checksum(raw), raw)
	sector := dev.SectorSize()
	if len(line) > sector {
		return fmt.Errorf("rbd: header of %d bytes does not fit a %d-byte sector", len(line), sector)
	}
	b := device.Alloc(sector)
	copy(b, line)
	if _, err := dev.WriteAt(b, 0); err != nil {
		return fmt.Errorf("rbd: write header: %w", err)
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("rbd: write header: %w", err)
	}
	return nil
}

func readHeader(dev device.Device) (header, error) {
	b := device.Alloc(dev.SectorSize())
	if _, err := dev.ReadAt(b, 0); err != nil {
		return header{}, fmt.Errorf("rbd: read header: %w", err)
	}
	bad := fmt.Errorf("rbd: %w: no rbd engine header on the device", strategies.ErrCorrupt)
	rest, ok := bytes.CutPrefix(b, headerMagic)
	if !ok || len(rest) < 9 {
		return header{}, bad
	}
	var crc uint32
	if _, err := fmt.Sscanf(string(rest[:8]), "%08x", &crc); err != nil {
		return header{}, bad
	}
	raw, _, _ := bytes.Cut(rest[9:], []byte("\n"))
	var h header
	if meta.Checksum(raw) != crc || json.Unmarshal(raw, &h) != nil || h.Instance == "" {
		return header{}, fmt.Errorf("rbd: %w: damaged rbd engine header", strategies.ErrCorrupt)
	}
	return h, nil
}

// ptr is an unsafe.Pointer to a C out-parameter in Go memory.
func ptr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
