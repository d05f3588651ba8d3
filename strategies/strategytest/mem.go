package strategytest

import (
	"fmt"

	"github.com/snapbench/snapbench/device"
)

type deviceMem = device.Mem

func newDeviceMem(cfg Config) (*device.Mem, error) {
	return device.NewMem(cfg.DeviceSize, device.MemOptions{SectorSize: cfg.SectorSize})
}

// newDeviceOf makes a device with cfg.NewDevice when set, else a memory
// device.
func newDeviceOf(cfg Config) (device.Device, error) {
	if cfg.NewDevice == nil {
		return newDeviceMem(cfg)
	}
	d, err := cfg.NewDevice()
	if err != nil {
		return nil, fmt.Errorf("NewDevice: %w", err)
	}
	if d.SectorSize() != cfg.SectorSize {
		d.Close()
		return nil, fmt.Errorf("NewDevice made a device with %d-byte sectors; Config.SectorSize is %d", d.SectorSize(), cfg.SectorSize)
	}
	return d, nil
}

// ownDevice reports whether the suite must close d itself (a device made
// by Config.NewDevice; memory devices are simply dropped).
func ownDevice(d device.Device) bool {
	_, isMem := d.(*device.Mem)
	return !isMem
}
