package workloads

import (
	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// The result file has its own types for what the device and engine layers
// describe (results depends on neither); these convert. Counters and Space
// are field-for-field the same structs (a conversion that stops compiling
// when either side gains a field); Info differs in Kind's type only
// (TestResultTypesMirrorLayers checks every field and JSON name).

func resultDeviceInfo(i device.Info) results.DeviceInfo {
	return results.DeviceInfo{Path: i.Path, Kind: string(i.Kind), Size: i.Size, LogicalSector: i.LogicalSector,
		PhysicalSector: i.PhysicalSector, MemAlign: i.MemAlign, Rotational: i.Rotational, Model: i.Model,
		DirectIO: i.DirectIO, Discard: i.Discard, Backing: i.Backing, IOEngine: i.IOEngine,
		IOSetup: i.IOSetup}
}

func resultCounters(c device.Counters) results.DeviceCounters { return results.DeviceCounters(c) }

func resultSpace(s strategies.Space) results.Space { return results.Space(s) }
