package device

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type sysfsFacts struct {
	rotational bool
	model      string
	backing    string
	discard    bool
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sysfsInfo reads what sysfs knows of a block device; partitions take the
// queue and model of their disk.
func sysfsInfo(major, minor uint32) sysfsFacts {
	dir := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	queue := dir
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		// dir is a symlink into /sys/devices/.../<disk>/<partition>: resolve it
		// before going up, as filepath.Join(dir, "..") would only strip the
		// "major:minor" element lexically.
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			queue = filepath.Dir(real)
		}
	}
	f := sysfsFacts{
		rotational: readTrim(filepath.Join(queue, "queue/rotational")) == "1",
		model:      readTrim(filepath.Join(queue, "device/model")),
		backing:    readTrim(filepath.Join(queue, "loop/backing_file")),
	}
	if n, err := strconv.ParseInt(readTrim(filepath.Join(queue, "queue/discard_max_bytes")), 10, 64); err == nil {
		f.discard = n > 0
	}
	return f
}

// BlockDevice is one entry of List.
type BlockDevice struct {
	Info
	Name    string   `json:"name"`
	Refused []string `json:"refused,omitempty"` // why the safety rules refuse it
}

// List returns every whole block device the kernel shows in /sys/block
// (loop devices included, unattached ones skipped), with the reasons the
// safety rules would refuse each. It only reads.
func List() ([]BlockDevice, error) {
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("device: list block devices: %w", err)
	}
	var out []BlockDevice
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join("/sys/block", name)
		sectors, _ := strconv.ParseInt(readTrim(filepath.Join(dir, "size")), 10, 64)
		if sectors == 0 {
			continue
		}
		lss, _ := strconv.Atoi(readTrim(filepath.Join(dir, "queue/logical_block_size")))
		pss, _ := strconv.Atoi(readTrim(filepath.Join(dir, "queue/physical_block_size")))
		bd := BlockDevice{Name: name, Info: Info{
			Path: "/dev/" + name, Kind: KindBlock, Size: sectors * 512,
			LogicalSector: lss, PhysicalSector: pss,
			Rotational: readTrim(filepath.Join(dir, "queue/rotational")) == "1",
			Model:      readTrim(filepath.Join(dir, "device/model")),
			Backing:    readTrim(filepath.Join(dir, "loop/backing_file")),
		}}
		if _, err := os.Stat(bd.Path); err != nil {
			bd.Refused = []string{"no device node " + bd.Path}
		} else {
			bd.Refused = refusalReasons(bd.Path)
		}
		out = append(out, bd)
	}
	return out, nil
}
