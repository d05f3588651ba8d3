package strategytest

import "github.com/snapbench/snapbench/device"

type deviceMem = device.Mem

func newDeviceMem(cfg Config) (*device.Mem, error) {
	return device.NewMem(cfg.DeviceSize, device.MemOptions{SectorSize: cfg.SectorSize})
}
