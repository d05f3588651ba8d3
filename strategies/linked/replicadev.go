package linked

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The replica device (option replica-device): replicas, their data grains
// and their grain tables, live on a second device, the template and
// everything else on the main one — the "template on cheaper storage,
// replica on the fast tier" layout of VMware View.
//
// Layout of the replica device:
//
//	0            header, one sector: replicaMagic, u32 version, 16-byte
//	             format nonce, u32 chunk, u32 sector, u32 replica grains,
//	             CRC-32C of the preceding bytes
//	repPoolOff   the replica pool: grain k (k >= 1) at
//	             repPoolOff + (k-1)*chunk
//
// repPoolOff is at least 128 KiB (device.Signature's probe window), so
// replica data copied from a template holding a file system image never
// makes the device look like one to the safety rules at the next Open.
//
// The pools share one grain numbering: grains 1..nPool are on the main
// device, nPool+1..nPool+nRep are replica grain 1..nRep on the replica
// device. Grain tables store these global numbers, so the rest of the
// engine needs no change beyond asking which device a grain is on.
//
// The format nonce, random at Format, is written in the header and in the
// main device's catalog; Open refuses a replica device whose header is
// missing, damaged, of other geometry or carries another nonce (a wrong or
// swapped device), before reading anything else from it.

var replicaMagic = [8]byte{'S', 'B', 'L', 'N', 'K', 'R', 'E', 'P'}

const (
	replicaHdrVersion = 1
	replicaHdrLen     = 8 + 4 + 16 + 4 + 4 + 4 + 4
	// testDevicePrefix marks a replica-device value that names a device a
	// test registered (see registerTestDevice), not a path.
	testDevicePrefix = "mem:"
)

// repPoolOffFor is where the replica pool starts on the replica device.
func repPoolOffFor(chunk int) int64 { return max(int64(chunk), 128<<10) }

// replicaDev is the open replica device. Writes mark it dirty;
// flushData flushes it only when dirty, so the main device's flushes are
// not doubled when nothing was written to it.
type replicaDev struct {
	device.Device
	path   string
	nonce  [16]byte
	unlock func() // drops the advisory lock on a file or block device
	dirty  atomic.Bool
	// flushMu serialises flushes: a caller that finds the device clean
	// must not return while another caller's flush, which took the dirty
	// mark, is still in progress (the catalog would be committed ahead of
	// the replica data).
	flushMu sync.Mutex
}

// WriteAt writes through and marks the device dirty after the write, so a
// flush that reads the mark afterwards covers the write.
func (r *replicaDev) WriteAt(p []byte, off int64) (int, error) {
	n, err := r.Device.WriteAt(p, off)
	r.dirty.Store(true)
	return n, err
}

// flush flushes the device if it was written since its last flush; on
// return every write that completed before the call is durable.
func (r *replicaDev) flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if !r.dirty.Swap(false) {
		return nil
	}
	if err := r.Device.Flush(); err != nil {
		r.dirty.Store(true)
		return fmt.Errorf("linked: flush replica device %s: %w", r.path, err)
	}
	return nil
}

// close closes the device and drops its lock.
func (r *replicaDev) close() error {
	err := r.Device.Close()
	if r.unlock != nil {
		r.unlock()
	}
	if err != nil {
		return fmt.Errorf("linked: close replica device %s: %w", r.path, err)
	}
	return nil
}

// openReplicaDevice opens the replica device named by the option: a file
// or block device path, opened with device.Open (direct IO, the safety
// rules) and locked exclusively (flock) for as long as the engine is
// open, as the command line locks the main device; or "mem:NAME", a device
// registered by a test.
func openReplicaDevice(path string, format bool) (*replicaDev, error) {
	if name, ok := strings.CutPrefix(path, testDevicePrefix); ok {
		testDevices.Lock()
		open := testDevices.m[name]
		testDevices.Unlock()
		if open == nil {
			return nil, fmt.Errorf("linked: replica device %q: %w: no test device of that name is registered "+
				"(mem:NAME exists only in tests; give a path, e.g. ./%s, for a file of that name)", path, strategies.ErrInvalidArgument, path)
		}
		dev, err := open(format)
		if err != nil {
			return nil, fmt.Errorf("linked: replica device %q: %w", path, err)
		}
		return &replicaDev{Device: dev, path: path}, nil
	}
	f, err := device.Open(path, device.Options{})
	if err != nil {
		return nil, fmt.Errorf("linked: replica device: %w (it must exist: a block device, or a file of the wanted size)", err)
	}
	lock, err := os.Open(path)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			err = fmt.Errorf("%s is in use by another engine or snapbench command", path)
		}
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("linked: replica device: %w", err)
	}
	return &replicaDev{Device: f, path: path, unlock: func() { lock.Close() }}, nil
}

// replicaGeometry checks the replica device against the main geometry and
// returns how many replica grains it holds (clamped so that both pools fit
// the 31-bit grain numbers).
func replicaGeometry(r device.Device, path string, g *geometry) (uint32, error) {
	if s := r.SectorSize(); s > g.sector {
		return 0, fmt.Errorf("linked: replica device %s: %w: %d-byte sectors, larger than the main device's %d",
			path, strategies.ErrInvalidArgument, s, g.sector)
	}
	n := (r.Size() - repPoolOffFor(g.chunk)) / int64(g.chunk)
	if n < 2 {
		return 0, fmt.Errorf("linked: replica device %s: %w: %d bytes is too small (need %d)",
			path, strategies.ErrNoSpace, r.Size(), repPoolOffFor(g.chunk)+2*int64(g.chunk))
	}
	return uint32(min(n, int64(maxGrain-g.nPool))), nil
}

func encodeReplicaHeader(buf []byte, nonce [16]byte, g *geometry) {
	clear(buf)
	copy(buf, replicaMagic[:])
	binary.LittleEndian.PutUint32(buf[8:], replicaHdrVersion)
	copy(buf[12:28], nonce[:])
	binary.LittleEndian.PutUint32(buf[28:], uint32(g.chunk))
	binary.LittleEndian.PutUint32(buf[32:], uint32(g.sector))
	binary.LittleEndian.PutUint32(buf[36:], g.nRep)
	meta.Seal(buf, 40)
}

// formatReplicaDevice opens the replica device, draws the format nonce and
// writes the header, durable on return: it precedes the catalog naming the
// device.
func (e *Engine) formatReplicaDevice(path string) error {
	r, err := openReplicaDevice(path, true)
	if err != nil {
		return err
	}
	if e.geo.nRep, err = replicaGeometry(r, path, e.geo); err != nil {
		r.close()
		return err
	}
	if _, err := rand.Read(r.nonce[:]); err != nil {
		r.close()
		return fmt.Errorf("linked: format nonce: %w", err)
	}
	buf := device.Alloc(e.geo.sector)
	encodeReplicaHeader(buf, r.nonce, e.geo)
	if _, err = r.WriteAt(buf, 0); err == nil {
		err = r.flush()
	}
	if err != nil {
		r.close()
		return fmt.Errorf("linked: format replica device %s: %w", path, err)
	}
	e.rdev = r
	return nil
}

// openReplica opens the replica device at Open and reads its header; the
// catalog's nonce is compared with it by load.
func (e *Engine) openReplica(path string) error {
	r, err := openReplicaDevice(path, false)
	if err != nil {
		return err
	}
	e.rdev = r
	nonce, nRep, err := e.readReplicaHeader()
	if err != nil {
		e.rdev = nil
		r.close()
		return err
	}
	r.nonce, e.geo.nRep = nonce, nRep
	return nil
}

// readReplicaHeader reads and checks the replica device's header: magic,
// version, checksum, chunk and sector size, and that the device holds the
// replica grains the header counts.
func (e *Engine) readReplicaHeader() (nonce [16]byte, nRep uint32, err error) {
	r, g := e.rdev, e.geo
	buf := device.Alloc(g.sector)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nonce, 0, fmt.Errorf("linked: read replica device header: %w", err)
	}
	if [8]byte(buf[:8]) != replicaMagic {
		return nonce, 0, fmt.Errorf("linked: replica device %s: %w: no linked replica header on it (a wrong device?)",
			r.path, strategies.ErrInvalidArgument)
	}
	if !meta.Sealed(buf, 40) {
		return nonce, 0, fmt.Errorf("linked: replica device %s: %w: header checksum mismatch", r.path, strategies.ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(buf[8:]); v != replicaHdrVersion {
		return nonce, 0, fmt.Errorf("linked: replica device %s: %w: header version %d (this build reads %d)",
			r.path, strategies.ErrCorrupt, v, replicaHdrVersion)
	}
	copy(nonce[:], buf[12:28])
	chunk, sector := binary.LittleEndian.Uint32(buf[28:]), binary.LittleEndian.Uint32(buf[32:])
	nRep = binary.LittleEndian.Uint32(buf[36:])
	if int(chunk) != g.chunk || int(sector) != g.sector {
		return nonce, 0, fmt.Errorf("linked: replica device %s: %w: formatted for chunk %d sector %d, the engine has %d and %d",
			r.path, strategies.ErrInvalidArgument, chunk, sector, g.chunk, g.sector)
	}
	if nRep == 0 || nRep > maxGrain-g.nPool || repPoolOffFor(g.chunk)+int64(nRep)*int64(g.chunk) > r.Size() {
		return nonce, 0, fmt.Errorf("linked: replica device %s: %w: header counts %d grains, the device is %d bytes",
			r.path, strategies.ErrCorrupt, nRep, r.Size())
	}
	return nonce, nRep, nil
}

// checkReplicaBinding compares the catalog's view of the replica device
// with the engine's (its option and the header read at Open).
func (e *Engine) checkReplicaBinding(c *catalog) error {
	switch {
	case e.rdev == nil && c.hasRep:
		return fmt.Errorf("linked: %w: the engine was formatted with a replica device, none is configured", strategies.ErrInvalidArgument)
	case e.rdev != nil && !c.hasRep:
		return fmt.Errorf("linked: %w: replica device %s configured, but the engine was formatted without one", strategies.ErrInvalidArgument, e.rdev.path)
	case e.rdev == nil:
		return nil
	case c.nonce != e.rdev.nonce:
		return fmt.Errorf("linked: replica device %s: %w: it belongs to another engine (its format nonce %x, this engine's catalog names %x)",
			e.rdev.path, strategies.ErrInvalidArgument, e.rdev.nonce, c.nonce)
	}
	return nil
}

// flushData makes every write so far durable: the replica device first
// (when written since its last flush), then the main device. Everything a
// catalog commit refers to is made durable by it first, so the replica
// device never lags a catalog that names its grains. Without a replica
// device it is exactly one flush of the main device.
func (e *Engine) flushData() error {
	if e.rdev != nil {
		if err := e.rdev.flush(); err != nil {
			return err
		}
	}
	return e.dev.Flush()
}

// devOf returns the device holding pool grain n.
func (e *Engine) devOf(n uint32) device.Device {
	if n > e.geo.nPool {
		return e.rdev
	}
	return e.dev
}

// allocGrain allocates a grain in the replica pool (rep, when there is a
// replica device) or the main pool and returns its global number, 0 when
// that pool is full.
func (e *Engine) allocGrain(rep, isMeta bool) uint32 {
	if rep && e.ralloc != nil {
		if k := e.ralloc.alloc(isMeta); k != 0 {
			return e.geo.nPool + k
		}
		return 0
	}
	return e.alloc.alloc(isMeta)
}

// freeGrain returns global grain n to its pool.
func (e *Engine) freeGrain(n uint32, isMeta bool) {
	if n > e.geo.nPool {
		if e.ralloc != nil {
			e.ralloc.free(n-e.geo.nPool, isMeta)
		}
		return
	}
	e.alloc.free(n, isMeta)
}

// grainSet is the allocators of both pools addressed by global grain
// number (rep nil without a replica device). Not locked: for loading and
// checking.
type grainSet struct {
	main, rep *allocator
	nPool     uint32
}

func (s grainSet) mark(n uint32, isMeta bool) bool {
	if n > s.nPool {
		return s.rep != nil && s.rep.mark(n-s.nPool, isMeta)
	}
	return s.main.mark(n, isMeta)
}

func (s grainSet) isUsed(n uint32) bool {
	if n > s.nPool {
		return s.rep != nil && s.rep.isUsed(n-s.nPool)
	}
	return s.main.isUsed(n)
}

func (g *geometry) newGrainSet() grainSet {
	s := grainSet{main: newAllocator(g.nPool), nPool: g.nPool}
	if g.nRep > 0 {
		s.rep = newAllocator(g.nRep)
	}
	return s
}

// testDevices are the devices a replica-device value "mem:NAME" can name:
// registered by tests only (export_test.go), so that the conformance suite,
// whose devices are device.Mem, can run with a second device. A built
// binary registers none, and the command line gets a clear error for
// "mem:...". open is called with format true at Format and false at Open,
// and returns the device to use from then on; the engine closes it.
var testDevices struct {
	sync.Mutex
	m map[string]func(format bool) (device.Device, error)
}

// registerTestDevice makes "mem:name" name the devices open returns until
// the returned function unregisters it.
func registerTestDevice(name string, open func(format bool) (device.Device, error)) (unregister func()) {
	testDevices.Lock()
	defer testDevices.Unlock()
	if testDevices.m == nil {
		testDevices.m = make(map[string]func(bool) (device.Device, error))
	}
	if testDevices.m[name] != nil {
		panic("linked: test device registered twice: " + name)
	}
	testDevices.m[name] = open
	return func() {
		testDevices.Lock()
		delete(testDevices.m, name)
		testDevices.Unlock()
	}
}
