package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/device"
)

// DualSlot commits a variable-size record atomically on a device by writing
// it, with a sequence number and checksums, into the older of two slots and
// flushing. After a crash during a commit the other slot still holds the
// previous record, so Load returns either the previous or the new record,
// never a mix.
//
// Layout of a slot: a 32-byte header (magic, seq, payload length, payload
// CRC-32C, header CRC-32C) followed by the payload, padded to 4 KiB.
//
// Cost: one write of the whole record plus one flush per commit, O(record
// size). Not safe for concurrent use: callers serialise commits.
type DualSlot struct {
	dev      device.Device
	off      [2]int64
	slotSize int64
	seq      uint64 // sequence number of the newest committed record
	newest   int    // slot holding it
}

// SlotHeaderSize is the slot header length.
const SlotHeaderSize = 32

var slotMagic = [8]byte{'S', 'B', 'S', 'L', 'O', 'T', '0', '1'}

// ErrNoRecord is returned by Load when neither slot holds a valid record.
var ErrNoRecord = errors.New("meta: no valid record in either slot")

// NewDualSlot uses [offA, offA+slotSize) and [offB, offB+slotSize) of dev.
// Offsets and slotSize must be multiples of 4096.
func NewDualSlot(dev device.Device, offA, offB, slotSize int64) *DualSlot {
	return &DualSlot{dev: dev, off: [2]int64{offA, offB}, slotSize: slotSize, newest: 1}
}

// MaxPayload is the largest record a slot holds.
func (s *DualSlot) MaxPayload() int { return int(s.slotSize) - SlotHeaderSize }

// Seq is the sequence number of the newest record (0 before any).
func (s *DualSlot) Seq() uint64 { return s.seq }

// Format writes rec into both slots (sequence 1 and 2) and flushes.
func (s *DualSlot) Format(rec []byte) error {
	s.seq, s.newest = 0, 1
	if err := s.Commit(rec); err != nil {
		return err
	}
	return s.Commit(rec)
}

// Commit writes rec as the newest record and flushes. The caller must have
// made durable (flushed) all data the record refers to.
func (s *DualSlot) Commit(rec []byte) error {
	if len(rec) > s.MaxPayload() {
		return fmt.Errorf("meta: record of %d bytes exceeds slot capacity %d", len(rec), s.MaxPayload())
	}
	n := (SlotHeaderSize + len(rec) + 4095) &^ 4095
	buf := device.GetBuffer(n)
	defer device.PutBuffer(buf)
	clear(buf)
	seq := s.seq + 1
	copy(buf, slotMagic[:])
	binary.LittleEndian.PutUint64(buf[8:], seq)
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(rec)))
	binary.LittleEndian.PutUint32(buf[24:], Checksum(rec))
	binary.LittleEndian.PutUint32(buf[28:], Checksum(buf[:28]))
	copy(buf[SlotHeaderSize:], rec)
	target := 1 - s.newest
	if _, err := s.dev.WriteAt(buf, s.off[target]); err != nil {
		return fmt.Errorf("meta: commit: %w", err)
	}
	if err := s.dev.Flush(); err != nil {
		return fmt.Errorf("meta: commit flush: %w", err)
	}
	s.seq, s.newest = seq, target
	return nil
}

// Load returns the newest valid record. ErrNoRecord: neither slot is valid.
func (s *DualSlot) Load() ([]byte, error) {
	var best []byte
	found := false
	for i := 0; i < 2; i++ {
		rec, seq, err := s.read(i)
		if err != nil {
			if errors.Is(err, ErrNoRecord) {
				continue
			}
			return nil, err
		}
		if !found || seq > s.seq {
			best, s.seq, s.newest, found = rec, seq, i, true
		}
	}
	if !found {
		return nil, ErrNoRecord
	}
	return best, nil
}

func (s *DualSlot) read(i int) ([]byte, uint64, error) {
	head := device.GetBuffer(4096)
	defer device.PutBuffer(head)
	if _, err := s.dev.ReadAt(head, s.off[i]); err != nil {
		return nil, 0, fmt.Errorf("meta: read slot: %w", err)
	}
	if !bytes.Equal(head[:8], slotMagic[:]) || binary.LittleEndian.Uint32(head[28:]) != Checksum(head[:28]) {
		return nil, 0, ErrNoRecord
	}
	seq := binary.LittleEndian.Uint64(head[8:])
	n := binary.LittleEndian.Uint64(head[16:])
	if n > uint64(s.MaxPayload()) {
		return nil, 0, ErrNoRecord
	}
	total := (SlotHeaderSize + int(n) + 4095) &^ 4095
	buf := head
	if total > len(head) {
		buf = device.Alloc(total)
		if _, err := s.dev.ReadAt(buf, s.off[i]); err != nil {
			return nil, 0, fmt.Errorf("meta: read slot: %w", err)
		}
	}
	rec := buf[SlotHeaderSize : SlotHeaderSize+int(n)]
	if Checksum(rec) != binary.LittleEndian.Uint32(buf[24:]) {
		return nil, 0, ErrNoRecord // torn commit
	}
	return append([]byte(nil), rec...), seq, nil
}
