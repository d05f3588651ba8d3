package device

import (
	"fmt"
	"unsafe"
)

// Device is a block device: a fixed-size array of sectors.
//
// Alignment: off and len(p) must be multiples of SectorSize(), and the address
// of p[0] must be a multiple of the device's memory alignment (Alloc returns
// buffers that satisfy every device). A misaligned call fails with an error
// wrapping ErrUnaligned; there is never a silent bounce copy. IO that extends
// past Size() fails with ErrOutOfRange. ReadAt and WriteAt either transfer all
// of p or return an error.
//
// Concurrency: ReadAt, WriteAt and Flush are safe for concurrent use. Two
// concurrent writes to the same sector leave one of the two contents.
//
// Durability: a write is acknowledged when WriteAt returns, but it is durable
// (survives a crash or power cut) only once a Flush that started after the
// acknowledgement has returned nil. Sector writes are atomic; larger writes are
// not (after a crash, any subset of an unflushed write's sectors may be new).
//
// Close releases the device; it does not flush.
type Device interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
	Size() int64
	SectorSize() int
	Close() error
}

// Discarder is implemented by devices that can discard (trim, punch) a range.
// off and n must be sector aligned. After a discard the range reads as zeros
// on devices that guarantee it (Mem, files) and as unspecified data otherwise.
type Discarder interface {
	Discard(off, n int64) error
}

// Wrapper is implemented by devices that wrap another device.
type Wrapper interface {
	Unwrap() Device
}

// Describer is implemented by devices that can describe themselves.
type Describer interface {
	Info() Info
}

// Kind says what backs a device.
type Kind string

const (
	KindFile   Kind = "file"
	KindBlock  Kind = "block"
	KindMem    Kind = "mem"
	KindNull   Kind = "null"
	KindVolume Kind = "volume" // an engine volume used as a device (stacking)
)

// Info describes a device for result files and the devices listing.
type Info struct {
	Path           string `json:"path,omitempty"`
	Kind           Kind   `json:"kind"`
	Size           int64  `json:"size"`
	LogicalSector  int    `json:"logical_sector"`
	PhysicalSector int    `json:"physical_sector"`
	MemAlign       int    `json:"mem_align"`
	Rotational     bool   `json:"rotational"`
	Model          string `json:"model,omitempty"`
	DirectIO       bool   `json:"direct_io"`
	Discard        bool   `json:"discard"`
	Backing        string `json:"backing,omitempty"`   // loop devices: the backing file
	IOEngine       string `json:"io_engine,omitempty"` // how File does IO: uring or psync (see File.SetIOEngine)
	// IOSetup, for the uring engine, names the io_uring setup flags the
	// kernel accepted beyond CLAMP: "single_issuer,defer_taskrun" (Linux
	// 6.1 on), "coop_taskrun" (5.19 on) or "none". They change what a
	// completion costs, so results from different kernels can differ.
	IOSetup string `json:"io_setup,omitempty"`
}

// Describe returns the Info of d, or of the first device it wraps that can
// describe itself, with Size and sector size always taken from d.
func Describe(d Device) Info {
	for cur := d; cur != nil; {
		if ds, ok := cur.(Describer); ok {
			info := ds.Info()
			info.Size = d.Size()
			info.LogicalSector = d.SectorSize()
			return info
		}
		w, ok := cur.(Wrapper)
		if !ok {
			break
		}
		cur = w.Unwrap()
	}
	return Info{Kind: "unknown", Size: d.Size(), LogicalSector: d.SectorSize(), PhysicalSector: d.SectorSize()}
}

// Innermost follows Unwrap until it reaches a device that wraps nothing.
func Innermost(d Device) Device {
	for {
		w, ok := d.(Wrapper)
		if !ok {
			return d
		}
		d = w.Unwrap()
	}
}

// CheckIO validates one IO against a device geometry: off and len(p) multiples
// of sector, p's address a multiple of memAlign, and the range inside size. It
// is what every Device implementation in this package calls first; engines
// implementing Volume use it too so all devices fail the same way.
func CheckIO(p []byte, off int64, sector, memAlign int, size int64) error {
	if off < 0 || off%int64(sector) != 0 || len(p)%sector != 0 {
		return fmt.Errorf("%w: offset %d length %d, sector size %d", ErrUnaligned, off, len(p), sector)
	}
	if memAlign > 1 && len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))%uintptr(memAlign) != 0 {
		return fmt.Errorf("%w: buffer address not a multiple of %d (use device.Alloc)", ErrUnaligned, memAlign)
	}
	if off > size || int64(len(p)) > size-off { // not off+len > size: that can overflow
		return fmt.Errorf("%w: offset %d length %d, device size %d", ErrOutOfRange, off, len(p), size)
	}
	return nil
}

// CheckRange validates a discard-style range.
func CheckRange(off, n int64, sector int, size int64) error {
	if off < 0 || n < 0 || off%int64(sector) != 0 || n%int64(sector) != 0 {
		return fmt.Errorf("%w: range %d+%d, sector size %d", ErrUnaligned, off, n, sector)
	}
	if off > size || n > size-off {
		return fmt.Errorf("%w: range %d+%d, device size %d", ErrOutOfRange, off, n, size)
	}
	return nil
}

// Zeroer is implemented by devices that can make a range read as zeros
// cheaply (Mem, files by hole punching or FALLOC_FL_ZERO_RANGE, block devices
// by BLKZEROOUT). Like a write, the zeros are durable after Flush.
type Zeroer interface {
	Zero(off, n int64) error
}

// Zero makes [off, off+n) of d read as zeros, with d's Zeroer when it has one
// and by writing zeros in 1 MiB IOs otherwise.
func Zero(d Device, off, n int64) error {
	if z, ok := d.(Zeroer); ok {
		return z.Zero(off, n)
	}
	return writeZeros(d, off, n)
}

// writeZeros zeros [off, off+n) of d by writing zeros in 1 MiB IOs.
func writeZeros(d Device, off, n int64) error {
	if err := CheckRange(off, n, d.SectorSize(), d.Size()); err != nil {
		return err
	}
	buf := GetBuffer(1 << 20)
	defer PutBuffer(buf)
	clear(buf)
	for done := int64(0); done < n; {
		k := min(n-done, int64(len(buf)))
		if _, err := d.WriteAt(buf[:k], off+done); err != nil {
			return err
		}
		done += k
	}
	return nil
}
