package device

import "fmt"

// Null is a device whose writes vanish and whose reads return zeros. It checks
// alignment and bounds like any device and does nothing else: the ceiling of
// what the harness can drive. Safe for concurrent use.
type Null struct {
	size   int64
	sector int
}

// NewNull returns a null device of size bytes with the given sector size
// (0: 512).
func NewNull(size int64, sector int) (*Null, error) {
	if sector == 0 {
		sector = 512
	}
	if size <= 0 || sector <= 0 || size%int64(sector) != 0 {
		return nil, fmt.Errorf("%w: null device size %d, sector size %d", ErrBadSize, size, sector)
	}
	return &Null{size: size, sector: sector}, nil
}

func (n *Null) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, n.sector, 1, n.size); err != nil {
		return 0, err
	}
	clear(p)
	return len(p), nil
}

func (n *Null) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, n.sector, 1, n.size); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (n *Null) Discard(off, length int64) error { return CheckRange(off, length, n.sector, n.size) }
func (n *Null) Flush() error                    { return nil }
func (n *Null) Size() int64                     { return n.size }
func (n *Null) SectorSize() int                 { return n.sector }
func (n *Null) Close() error                    { return nil }

// Info describes the device.
func (n *Null) Info() Info {
	return Info{Kind: KindNull, Size: n.size, LogicalSector: n.sector, PhysicalSector: n.sector, MemAlign: 1, Discard: true}
}
