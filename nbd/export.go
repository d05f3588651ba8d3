package nbd

import (
	"fmt"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapbench/snapbench/device"
)

// Export is one device offered by a Server under a name.
type Export struct {
	// Name is what clients ask for: 1 to 4096 bytes, unique in a server.
	// The empty name (the protocol's "default export") selects the first
	// export of the server.
	Name string
	// Description is shown by clients that list exports (optional).
	Description string
	// Device is what the export reads and writes. The server calls its
	// ReadAt, WriteAt and Flush concurrently (the Device contract allows
	// it), always with sector-aligned offsets, lengths and buffers; it uses
	// device.Discarder and device.Zeroer when the device has them. The
	// server neither flushes on its own (except for FUA, FLUSH and
	// Shutdown) nor closes the device.
	Device device.Device
	// ReadOnly refuses writes, trims and write-zeroes with EPERM and tells
	// clients the export is read-only.
	ReadOnly bool
	// PreferredBlockSize is advertised to clients as the size below which
	// IO costs a read-modify-write (the chunk of an engine). 0 means
	// max(4096, sector size). It must be a power of two, at least the
	// sector size, at most MaxRequest.
	PreferredBlockSize int
}

// ExportStats counts what clients did to one export since the server
// started. Bytes are the clients' bytes; RMWs counts requests that needed a
// read-modify-write because they were not sector aligned.
type ExportStats struct {
	Reads      int64 `json:"reads"`
	Writes     int64 `json:"writes"`
	ReadBytes  int64 `json:"read_bytes"`
	WriteBytes int64 `json:"write_bytes"`
	Flushes    int64 `json:"flushes"`
	Trims      int64 `json:"trims"`
	Zeroes     int64 `json:"write_zeroes"`
	RMWs       int64 `json:"rmws"`
	Errors     int64 `json:"errors"`
}

// stripeCount is the number of lock stripes per export; a power of two no
// larger than 64 (one bit each in a uint64 mask).
const stripeCount = 64

// export is an Export being served: the device plus alignment handling.
//
// NBD clients may send IO at any byte offset and length. Reads are widened
// to whole sectors into an aligned buffer. A write that does not cover whole
// sectors is a read-modify-write of its first and last sector. Two RMWs of
// one sector, or an RMW and a plain write of it, must not interleave or one
// client's bytes are lost: writes lock stripes of the export (granule =
// max(4096, sector), striped by granule index modulo 64), sharing the
// stripes their aligned body covers and taking exclusively the stripes of a
// partial first or last sector. Reads take no lock.
type export struct {
	Export
	size   int64
	sector int64
	grain  int64
	pref   uint32
	flags  uint16
	locks  [stripeCount]sync.RWMutex

	reads, writes, rbytes, wbytes atomic.Int64
	flushes, trims, zeroes, rmws  atomic.Int64
	errs                          atomic.Int64

	// readLat and writeLat follow how long the device takes to read and
	// write, to choose where requests are served (see conn.dispatch).
	readLat, writeLat latency
}

// inlineBelow is the device latency under which the connection's reader
// serves a request itself rather than waking a worker: waking one costs a
// few microseconds, and a system call that returns within the runtime's
// sysmon tick (20 µs) keeps its P, so the reader is not held up long.
const inlineBelow = 20 * time.Microsecond

// fast reports whether requests of type typ are served faster than a
// worker wakes up.
func (e *export) fast(typ uint16) bool {
	switch typ {
	case wire.CmdRead:
		return time.Duration(e.readLat.ns.Load()) < inlineBelow
	case wire.CmdWrite:
		return time.Duration(e.writeLat.ns.Load()) < inlineBelow
	}
	return false
}

// latency is a moving average of durations (weight 1/8 for the newest),
// safe for concurrent use; concurrent updates may lose one another's
// contribution, which only makes the average a little less smooth.
type latency struct{ ns atomic.Int64 }

func (l *latency) observe(d time.Duration) {
	old := l.ns.Load()
	l.ns.Store(old + (int64(d)-old)/8)
}

func newExport(x Export) (*export, error) {
	if x.Device == nil {
		return nil, fmt.Errorf("nbd: export %q has no device", x.Name)
	}
	if len(x.Name) > wire.MaxString || len(x.Description) > wire.MaxString {
		return nil, fmt.Errorf("nbd: export name or description longer than %d bytes", wire.MaxString)
	}
	sec := x.Device.SectorSize()
	if sec <= 0 || sec&(sec-1) != 0 || sec > 64<<10 {
		return nil, fmt.Errorf("nbd: export %q: sector size %d is not a power of two up to 64 KiB", x.Name, sec)
	}
	pref := x.PreferredBlockSize
	if pref == 0 {
		pref = max(4096, sec)
	}
	if pref < sec || pref&(pref-1) != 0 || pref > MaxRequest {
		return nil, fmt.Errorf("nbd: export %q: preferred block size %d must be a power of two from the sector size %d to %d", x.Name, pref, sec, MaxRequest)
	}
	e := &export{Export: x, size: x.Device.Size(), sector: int64(sec), grain: int64(max(4096, sec)), pref: uint32(pref)}
	e.flags = wire.FlagHasFlags | wire.FlagSendFlush | wire.FlagSendFUA | wire.FlagCanMultiConn
	if x.ReadOnly {
		e.flags |= wire.FlagReadOnly
	} else {
		e.flags |= wire.FlagSendTrim | wire.FlagSendWriteZeroes
	}
	if device.Describe(x.Device).Rotational {
		e.flags |= wire.FlagRotational
	}
	return e, nil
}

func (e *export) stats() ExportStats {
	return ExportStats{Reads: e.reads.Load(), Writes: e.writes.Load(), ReadBytes: e.rbytes.Load(),
		WriteBytes: e.wbytes.Load(), Flushes: e.flushes.Load(), Trims: e.trims.Load(),
		Zeroes: e.zeroes.Load(), RMWs: e.rmws.Load(), Errors: e.errs.Load()}
}

// inRange reports whether [off, off+n) lies inside the export, without
// overflowing on hostile values.
func (e *export) inRange(off uint64, n uint32) bool {
	return off <= uint64(e.size) && uint64(n) <= uint64(e.size)-off
}

// span widens [off, off+n) to whole sectors.
func (e *export) span(off, n int64) (a0, a1 int64) {
	a0 = off - off%e.sector
	a1 = off + n
	if r := a1 % e.sector; r != 0 {
		a1 += e.sector - r
	}
	return a0, a1
}

// readInto reads the aligned range [a0, a0+len(buf)) into buf, an aligned
// buffer. The range must be inside the export.
func (e *export) readInto(buf []byte, a0 int64) error {
	if len(buf) == 0 {
		return nil
	}
	_, err := e.Device.ReadAt(buf, a0)
	return err
}

// write completes a write of n bytes at off whose payload was read into
// buf, an aligned buffer of the sector-widened span (see span) with the
// payload at off-a0: it fills the partial edge sectors from the device
// (RMW), writes, and flushes when fua is set.
func (e *export) write(buf []byte, off, n int64, fua bool) error {
	if n == 0 {
		return e.maybeFlush(fua)
	}
	a0, a1 := e.span(off, n)
	head, tail := off != a0, off+n != a1
	excl := uint64(0)
	if head {
		excl |= e.stripeMask(a0, a0+e.sector)
	}
	if tail {
		excl |= e.stripeMask(a1-e.sector, a1)
	}
	shared := e.stripeMask(a0, a1) &^ excl
	e.lock(excl, shared)
	err := e.fillEdges(buf, off, n, a0, a1, head, tail)
	if err == nil {
		_, err = e.Device.WriteAt(buf[:a1-a0], a0)
	}
	e.unlock(excl, shared)
	if err != nil {
		return err
	}
	return e.maybeFlush(fua)
}

// fillEdges copies the bytes of the partial first and last sectors that the
// write does not cover from the device into buf. Caller holds their stripes
// exclusively.
func (e *export) fillEdges(buf []byte, off, n, a0, a1 int64, head, tail bool) error {
	if !head && !tail {
		return nil
	}
	e.rmws.Add(1)
	sec := device.GetBuffer(int(e.sector))
	defer device.PutBuffer(sec)
	if head {
		if _, err := e.Device.ReadAt(sec, a0); err != nil {
			return err
		}
		copy(buf[:off-a0], sec)
	}
	if tail {
		last := a1 - e.sector
		if !head || last != a0 { // else sec already holds that sector
			if _, err := e.Device.ReadAt(sec, last); err != nil {
				return err
			}
		}
		end := off + n
		copy(buf[end-a0:a1-a0], sec[end-last:])
	}
	return nil
}

// writeZeroes makes [off, off+n) read as zeros: partial edge sectors by RMW,
// the aligned body with device.Zero (the device's Zeroer when it has one).
func (e *export) writeZeroes(off, n int64, fua bool) error {
	if n == 0 {
		return e.maybeFlush(fua)
	}
	a0, a1 := e.span(off, n)
	end := off + n
	// Body: the whole sectors inside [off, end).
	b0 := a0
	if off != a0 {
		b0 = a0 + e.sector
	}
	b1 := a1
	if end != a1 {
		b1 = a1 - e.sector
	}
	excl := uint64(0)
	if off != a0 {
		excl |= e.stripeMask(a0, a0+e.sector)
	}
	if end != a1 {
		excl |= e.stripeMask(a1-e.sector, a1)
	}
	shared := e.stripeMask(a0, a1) &^ excl
	e.lock(excl, shared)
	err := e.zeroLocked(off, end, a0, a1, b0, b1)
	e.unlock(excl, shared)
	if err != nil {
		return err
	}
	return e.maybeFlush(fua)
}

func (e *export) zeroLocked(off, end, a0, a1, b0, b1 int64) error {
	if b1 > b0 {
		if err := device.Zero(e.Device, b0, b1-b0); err != nil {
			return err
		}
	}
	// Partial sectors: the first and the last, unless they are one sector.
	var edges [2]int64
	k := 0
	if off != a0 {
		edges[k], k = a0, k+1
	}
	if end != a1 && (off == a0 || a1-e.sector != a0) {
		edges[k], k = a1-e.sector, k+1
	}
	for _, s := range edges[:k] {
		lo, hi := max(off, s), min(end, s+e.sector)
		e.rmws.Add(1)
		sec := device.GetBuffer(int(e.sector))
		_, err := e.Device.ReadAt(sec, s)
		if err == nil {
			clear(sec[lo-s : hi-s])
			_, err = e.Device.WriteAt(sec, s)
		}
		device.PutBuffer(sec)
		if err != nil {
			return err
		}
	}
	return nil
}

// trim discards the whole sectors inside [off, off+n) when the device can
// discard, and does nothing otherwise: after a trim NBD clients may assume
// nothing about the range, so keeping the data is correct.
func (e *export) trim(off, n int64, fua bool) error {
	d, ok := e.Device.(device.Discarder)
	if !ok {
		return nil
	}
	b0, b1 := off, off+n
	if r := b0 % e.sector; r != 0 {
		b0 += e.sector - r
	}
	b1 -= b1 % e.sector
	if b1 <= b0 {
		return nil
	}
	if err := d.Discard(b0, b1-b0); err != nil {
		return err
	}
	return e.maybeFlush(fua)
}

func (e *export) maybeFlush(fua bool) error {
	if !fua {
		return nil
	}
	return e.Device.Flush()
}

// stripeMask returns the stripes covering [a, b), b > a.
func (e *export) stripeMask(a, b int64) uint64 {
	g0, g1 := a/e.grain, (b-1)/e.grain
	if g1-g0 >= stripeCount-1 {
		return ^uint64(0)
	}
	var m uint64
	for g := g0; g <= g1; g++ {
		m |= 1 << (g % stripeCount)
	}
	return m
}

// lock takes the stripes in excl exclusively and those in shared shared, in
// increasing stripe order so that two lockers cannot deadlock.
func (e *export) lock(excl, shared uint64) {
	for m := excl | shared; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if excl&(1<<i) != 0 {
			e.locks[i].Lock()
		} else {
			e.locks[i].RLock()
		}
	}
}

func (e *export) unlock(excl, shared uint64) {
	for m := excl | shared; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if excl&(1<<i) != 0 {
			e.locks[i].Unlock()
		} else {
			e.locks[i].RUnlock()
		}
	}
}
