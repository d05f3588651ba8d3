package linked

import (
	"sync"

	"github.com/snapbench/snapbench/device"
)

// MemReplicaDevice is a replica device for tests, named "mem:NAME" in the
// replica-device option while registered: Format gets a fresh, empty
// device.Mem; Open gets a clean copy of the current one (the engine closed
// the last), as after a clean shutdown of that device. A crash of the main
// device alone (the conformance suite's) thus keeps every write of the
// replica device, which is one of the outcomes a power cut of two devices
// allows; TestReplicaDeviceCrash crashes both.
type MemReplicaDevice struct {
	mu     sync.Mutex
	size   int64
	sector int
	cur    *device.Mem
}

// RegisterMemReplicaDevice registers "mem:"+name until the test ends.
func RegisterMemReplicaDevice(t interface{ Cleanup(func()) }, name string, size int64, sector int) *MemReplicaDevice {
	m := &MemReplicaDevice{size: size, sector: sector}
	t.Cleanup(registerTestDevice(name, m.open))
	return m
}

func (m *MemReplicaDevice) open(format bool) (device.Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if format || m.cur == nil {
		mem, err := device.NewMem(m.size, device.MemOptions{SectorSize: m.sector})
		if err != nil {
			return nil, err
		}
		m.cur = mem
	} else {
		m.cur = m.cur.Reopen()
	}
	return m.cur, nil
}
