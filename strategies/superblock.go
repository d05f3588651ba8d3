package strategies

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The snapbench superblock names the engine that owns a device. Two copies
// sit at offsets 0 and 4096; the engine's own area starts at ReservedBytes
// (1 MiB, so engine data stays aligned as partitioning tools align it).
//
// Layout of a copy (4096 bytes, little endian):
//
//	0    magic "SNAPBNCH"
//	8    format version (u32)
//	12   reserved (u32)
//	16   sequence (u64)
//	24   engine name (32 bytes, NUL padded)
//	56   chunk size (u32)
//	60   reserved (u32)
//	64   device size at format (u64)
//	72   uuid (16 bytes)
//	88   params length (u16), then "key=value\n" lines
//	4092 CRC-32C of bytes [0, 4092)
const (
	ReservedBytes  = 1 << 20
	superSize      = 4096
	superVersion   = 1
	superNameLen   = 32
	superParamsOff = 90
	superCRCOff    = superSize - 4
)

var superMagic = []byte("SNAPBNCH")

// Superblock is the decoded identity of a formatted device.
type Superblock struct {
	Version    uint32
	Seq        uint64
	Engine     string
	Options    Options
	DeviceSize int64
	UUID       [16]byte
}

// UUIDString formats the uuid.
func (s Superblock) UUIDString() string {
	u := s.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

func encodeSuper(sb Superblock) ([]byte, error) {
	buf := device.Alloc(superSize)
	copy(buf, superMagic)
	binary.LittleEndian.PutUint32(buf[8:], sb.Version)
	binary.LittleEndian.PutUint64(buf[16:], sb.Seq)
	copy(buf[24:24+superNameLen], sb.Engine)
	binary.LittleEndian.PutUint32(buf[56:], uint32(sb.Options.ChunkSize))
	binary.LittleEndian.PutUint64(buf[64:], uint64(sb.DeviceSize))
	copy(buf[72:88], sb.UUID[:])
	keys := make([]string, 0, len(sb.Options.Params))
	for k := range sb.Options.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var params strings.Builder
	for _, k := range keys {
		params.WriteString(k + "=" + sb.Options.Params[k] + "\n")
	}
	if superParamsOff+params.Len() > superCRCOff {
		return nil, fmt.Errorf("strategies: %w: options too long for the superblock", ErrInvalidArgument)
	}
	binary.LittleEndian.PutUint16(buf[88:], uint16(params.Len()))
	copy(buf[superParamsOff:], params.String())
	meta.Seal(buf, superCRCOff)
	return buf, nil
}

// errNoMagic: the copy holds no superblock at all (as opposed to a damaged one).
var errNoMagic = errors.New("no magic")

// DecodeSuperblock decodes one 4096-byte copy. It never panics.
func DecodeSuperblock(buf []byte) (Superblock, error) {
	if len(buf) < superSize || !bytes.Equal(buf[:8], superMagic) {
		return Superblock{}, errNoMagic
	}
	if !meta.Sealed(buf, superCRCOff) {
		return Superblock{}, fmt.Errorf("%w: superblock checksum mismatch", ErrCorrupt)
	}
	sb := Superblock{
		Version:    binary.LittleEndian.Uint32(buf[8:]),
		Seq:        binary.LittleEndian.Uint64(buf[16:]),
		Engine:     string(bytes.TrimRight(buf[24:24+superNameLen], "\x00")),
		DeviceSize: int64(binary.LittleEndian.Uint64(buf[64:])),
	}
	if sb.Version != superVersion {
		return Superblock{}, fmt.Errorf("%w: superblock format version %d (this snapbench reads %d)", ErrCorrupt, sb.Version, superVersion)
	}
	copy(sb.UUID[:], buf[72:88])
	sb.Options.ChunkSize = int(binary.LittleEndian.Uint32(buf[56:]))
	n := int(binary.LittleEndian.Uint16(buf[88:]))
	if superParamsOff+n > superCRCOff {
		return Superblock{}, fmt.Errorf("%w: superblock params length %d", ErrCorrupt, n)
	}
	sb.Options.Params = make(map[string]string)
	for _, line := range strings.Split(string(buf[superParamsOff:superParamsOff+n]), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Superblock{}, fmt.Errorf("%w: superblock param %q", ErrCorrupt, line)
		}
		sb.Options.Params[k] = v
	}
	return sb, nil
}

// ReadSuperblock returns the newest valid superblock copy of dev. It fails
// with ErrNoSuperblock when neither copy has the magic, and ErrCorrupt when a
// copy has it but no copy is valid.
func ReadSuperblock(dev device.Device) (Superblock, error) {
	buf, _, err := superblockState(dev)
	if err != nil {
		return Superblock{}, err
	}
	return DecodeSuperblock(buf)
}

// EraseSuperblock zeroes both superblock copies of dev and flushes: on
// return dev holds no engine (Open and ReadSuperblock fail with
// ErrNoSuperblock); the engine's own area is left as it is. The device must
// not be open as an engine.
func EraseSuperblock(dev device.Device) error {
	if _, err := dev.WriteAt(device.Alloc(2*superSize), 0); err != nil {
		return fmt.Errorf("strategies: erase superblock: %w", err)
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("strategies: flush: %w", err)
	}
	return nil
}

func engineArea(dev device.Device) (device.Device, error) {
	sec := dev.SectorSize()
	if sec > 4096 || 4096%sec != 0 {
		return nil, fmt.Errorf("strategies: %w: sector size %d (engines need sectors of at most 4096 bytes that divide 4096)", ErrInvalidArgument, sec)
	}
	if dev.Size() <= 2*ReservedBytes {
		return nil, fmt.Errorf("strategies: %w: device of %d bytes is too small (need more than %d)", device.ErrBadSize, dev.Size(), 2*ReservedBytes)
	}
	return device.NewSub(dev, ReservedBytes, dev.Size()-ReservedBytes)
}

// Format lays engine name on dev with opts and returns it open. Whatever the
// device held is lost. It is crash-safe: the superblock is written last, after
// the engine's own format is durable, and the old superblock is erased first,
// so a crash leaves either no superblock or a complete engine.
//
// Nothing is written before everything that can be refused has been
// checked: the engine name, the options, the device's size and sector size,
// and the engine's own validation (Factory.Validate: its options, the space
// its layout needs, devices its options name). A refused format returns an
// error and leaves dev byte for byte unchanged; only an IO error during the
// format itself can leave the device erased.
func Format(name string, dev device.Device, opts Options) (Engine, error) {
	f, err := LookupFactory(name)
	if err != nil {
		return nil, err
	}
	opts, err = opts.resolve(f)
	if err != nil {
		return nil, err
	}
	area, err := engineArea(dev)
	if err != nil {
		return nil, err
	}
	sb := Superblock{Version: superVersion, Seq: 1, Engine: name, Options: opts, DeviceSize: dev.Size()}
	if _, err := rand.Read(sb.UUID[:]); err != nil {
		return nil, fmt.Errorf("strategies: uuid: %w", err)
	}
	buf, err := encodeSuper(sb)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(area, opts); err != nil {
		return nil, err
	}
	if err := EraseSuperblock(dev); err != nil {
		return nil, err
	}
	eng, err := f.Format(area, opts)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 2; i++ {
		if _, err = dev.WriteAt(buf, int64(i*superSize)); err == nil {
			err = dev.Flush()
		}
		if err != nil {
			eng.Close()
			return nil, fmt.Errorf("strategies: write superblock: %w", err)
		}
	}
	return eng, nil
}

// Open finds the engine on dev from its superblock and opens it.
func Open(dev device.Device) (Engine, error) {
	sb, err := ReadSuperblock(dev)
	if err != nil {
		return nil, err
	}
	f, err := LookupFactory(sb.Engine)
	if err != nil {
		return nil, fmt.Errorf("strategies: device formatted with engine %q, which this build lacks: %w", sb.Engine, err)
	}
	if dev.Size() < sb.DeviceSize {
		return nil, fmt.Errorf("strategies: %w: device is %d bytes, was %d at format", ErrCorrupt, dev.Size(), sb.DeviceSize)
	}
	area, err := device.NewSub(dev, ReservedBytes, sb.DeviceSize-ReservedBytes)
	if err != nil {
		return nil, err
	}
	return f.Open(area, sb.Options)
}

// FormatSummary is a one-line description of a superblock for listings.
func FormatSummary(sb Superblock) string {
	return sb.Engine + " " + sb.Options.String() + " size=" + strconv.FormatInt(sb.DeviceSize, 10)
}

// SuperblockDamage describes one damaged superblock copy.
type SuperblockDamage struct {
	Copy   int    // 0 or 1
	Off    int64  // byte offset of the copy on the device
	Reason string // why it is not a valid, current copy
}

func (d SuperblockDamage) String() string {
	return fmt.Sprintf("superblock copy %d (offset %d) %s", d.Copy, d.Off, d.Reason)
}

// CheckSuperblocks reads both superblock copies of dev and reports each
// one that is not a valid copy identical to the newest valid one: destroyed
// (no magic), failing its checksum or decoding, or out of date. It returns
// nil when both copies are intact. It fails with ErrNoSuperblock when
// neither copy has the magic and with an error wrapping ErrCorrupt when no
// copy is valid. It only reads: two 4 KiB reads.
func CheckSuperblocks(dev device.Device) ([]SuperblockDamage, error) {
	_, damage, err := superblockState(dev)
	return damage, err
}

// RepairSuperblocks rewrites every damaged superblock copy (see
// CheckSuperblocks) from the newest valid one and flushes, durable on
// return. It writes nothing when both copies are intact, and returns what
// it repaired. It fails, writing nothing, when no copy is valid.
func RepairSuperblocks(dev device.Device) ([]SuperblockDamage, error) {
	buf, damage, err := superblockState(dev)
	if err != nil || len(damage) == 0 {
		return nil, err
	}
	for _, d := range damage {
		if _, err := dev.WriteAt(buf, d.Off); err != nil {
			return nil, fmt.Errorf("strategies: repair superblock copy %d: %w", d.Copy, err)
		}
	}
	if err := dev.Flush(); err != nil {
		return nil, fmt.Errorf("strategies: repair superblock: flush: %w", err)
	}
	return damage, nil
}

// superblockState returns the newest valid copy's bytes and the damaged
// copies.
func superblockState(dev device.Device) ([]byte, []SuperblockDamage, error) {
	if dev.Size() < 2*superSize {
		return nil, nil, ErrNoSuperblock
	}
	buf := device.Alloc(2 * superSize)
	if _, err := dev.ReadAt(buf, 0); err != nil {
		return nil, nil, fmt.Errorf("strategies: read superblock: %w", err)
	}
	var sbs [2]Superblock
	var errs [2]error
	best := -1
	for i := range 2 {
		sbs[i], errs[i] = DecodeSuperblock(buf[i*superSize : (i+1)*superSize])
		if errs[i] == nil && (best < 0 || sbs[i].Seq > sbs[best].Seq) {
			best = i
		}
	}
	if best < 0 {
		if errors.Is(errs[0], errNoMagic) && errors.Is(errs[1], errNoMagic) {
			return nil, nil, ErrNoSuperblock
		}
		return nil, nil, fmt.Errorf("strategies: %w: both superblock copies are damaged (copy 0: %s; copy 1: %s)",
			ErrCorrupt, copyReason(errs[0]), copyReason(errs[1]))
	}
	good := buf[best*superSize : (best+1)*superSize]
	var damage []SuperblockDamage
	for i := range 2 {
		if i == best {
			continue
		}
		reason := ""
		switch {
		case errs[i] != nil:
			reason = copyReason(errs[i])
		case sbs[i].Seq < sbs[best].Seq:
			reason = fmt.Sprintf("is out of date (sequence %d, copy %d has %d)", sbs[i].Seq, best, sbs[best].Seq)
		case !bytes.Equal(buf[i*superSize:(i+1)*superSize], good):
			reason = fmt.Sprintf("differs from copy %d", best)
		default:
			continue
		}
		damage = append(damage, SuperblockDamage{Copy: i, Off: int64(i * superSize), Reason: reason})
	}
	return good, damage, nil
}

// copyReason words a DecodeSuperblock error for a report.
func copyReason(err error) string {
	if errors.Is(err, errNoMagic) {
		return "is destroyed (no superblock magic)"
	}
	return "is damaged (" + strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ") + ")"
}
