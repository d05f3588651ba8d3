package workloads

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
)

// Every sector a workload writes starts with a 32-byte stamp header
// (little endian), followed by a payload that is a pure function of the
// header:
//
//	0   magic "BSTK"
//	4   lineage: the volume that wrote the sector (a harness id, see oracle)
//	8   offset of the sector in the volume, bytes
//	16  generation: unique per write within a run
//	24  CRC-32C of the payload (the rest of the sector)
//	28  check: a hash of the fields above
//
// The payload is one of payloadWindows windows of a fixed pseudo-random
// pool, chosen by a hash of (lineage, offset, generation), so that writing
// it is a memmove and `full` verification can recompute it. A sector is
// self-describing: header check and payload CRC can be validated without
// knowing what it should hold.
const (
	stampMagic     = 0x4b545342 // "BSTK"
	stampHeader    = 32
	payloadWindows = 1024
	payloadStride  = 64
	// MaxStampSector is the largest sector size stamps support.
	MaxStampSector = 64 << 10
)

// packed oracle values: lineage in bits 40-62, generation in the low 40
// (bit 63 is the oracle's altFlag); 0 means "never written: zeros".
const (
	genBits     = 40
	genMask     = 1<<genBits - 1
	maxLineage  = 1<<23 - 1
	maxGen      = genMask
	zeroContent = uint64(0)
)

func pack(lineage uint32, gen uint64) uint64 { return uint64(lineage)<<genBits | gen }
func unpack(v uint64) (uint32, uint64)       { return uint32(v >> genBits), v & genMask }

var (
	poolOnce    sync.Once
	payloadPool []byte
	tablesMu    sync.Mutex
	tables      = map[int]*stampTable{}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

func pool() []byte {
	poolOnce.Do(func() {
		r := newRNG(0x5eed5eed)
		payloadPool = make([]byte, payloadWindows*payloadStride+MaxStampSector)
		for i := 0; i+8 <= len(payloadPool); i += 8 {
			binary.LittleEndian.PutUint64(payloadPool[i:], r.Uint64())
		}
	})
	return payloadPool
}

// stampTable holds the payload CRCs of every window for one sector size.
// Immutable once built; shared by every worker.
type stampTable struct {
	sector int
	pool   []byte
	crc    [payloadWindows]uint32
}

func stampTableFor(sector int) (*stampTable, error) {
	if sector < stampHeader*2 || sector > MaxStampSector || sector%512 != 0 {
		return nil, fmt.Errorf("workloads: sector size %d cannot carry stamps (want a multiple of 512 up to %d)", sector, MaxStampSector)
	}
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t := tables[sector]; t != nil {
		return t, nil
	}
	t := &stampTable{sector: sector, pool: pool()}
	for k := range t.crc {
		t.crc[k] = crc32.Checksum(t.payload(uint32(k)), castagnoli)
	}
	tables[sector] = t
	return t, nil
}

func (t *stampTable) payload(k uint32) []byte {
	o := int(k) * payloadStride
	return t.pool[o : o+t.sector-stampHeader]
}

// stampHash mixes a stamp's identity; window and header check derive from it.
func stampHash(lineage uint32, off int64, gen uint64) uint64 {
	return mix64(gen ^ uint64(off)*0x9e3779b97f4a7c15 ^ uint64(lineage)<<48)
}

func window(lineage uint32, off int64, gen uint64) uint32 {
	return uint32(stampHash(lineage, off, gen)) & (payloadWindows - 1)
}

func headerCheck(lineage uint32, off int64, gen uint64, sum uint32) uint32 {
	return checkOf(stampHash(lineage, off, gen), sum)
}

func checkOf(h uint64, sum uint32) uint32 { return uint32(mix64(h^uint64(sum)^stampMagic) >> 16) }

// stamp fills p (a whole number of sectors, at volume offset off) with the
// stamps of a write by lineage with generation gen.
func (t *stampTable) stamp(p []byte, lineage uint32, off int64, gen uint64) {
	sec := t.sector
	for i := 0; i+sec <= len(p); i += sec {
		o := off + int64(i)
		h := stampHash(lineage, o, gen)
		k := uint32(h) & (payloadWindows - 1)
		s := p[i : i+sec]
		copy(s[stampHeader:], t.payload(k))
		sum := t.crc[k]
		binary.LittleEndian.PutUint32(s[0:], stampMagic)
		binary.LittleEndian.PutUint32(s[4:], lineage)
		binary.LittleEndian.PutUint64(s[8:], uint64(o))
		binary.LittleEndian.PutUint64(s[16:], gen)
		binary.LittleEndian.PutUint32(s[24:], sum)
		binary.LittleEndian.PutUint32(s[28:], checkOf(h, sum))
	}
}

// matches reports whether sector s at volume offset off holds the content
// packed in want (0: zeros). Stamp mode compares the header; full mode also
// compares the payload.
func (t *stampTable) matches(s []byte, off int64, want uint64, full bool) bool {
	if want == zeroContent {
		if full {
			return allZero(s)
		}
		return allZero(s[:stampHeader])
	}
	lineage, gen := unpack(want)
	if binary.LittleEndian.Uint32(s[0:]) != stampMagic ||
		binary.LittleEndian.Uint32(s[4:]) != lineage ||
		binary.LittleEndian.Uint64(s[8:]) != uint64(off) ||
		binary.LittleEndian.Uint64(s[16:]) != gen {
		return false
	}
	h := stampHash(lineage, off, gen)
	k := uint32(h) & (payloadWindows - 1)
	sum := t.crc[k]
	if binary.LittleEndian.Uint32(s[24:]) != sum || binary.LittleEndian.Uint32(s[28:]) != checkOf(h, sum) {
		return false
	}
	return !full || bytes.Equal(s[stampHeader:], t.payload(k))
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Stamp is a decoded sector header, for messages and tools.
type Stamp struct {
	Magic   uint32
	Lineage uint32
	Offset  int64
	Gen     uint64
	Sum     uint32
	Check   uint32
}

// ReadStamp decodes the header at the start of sector.
func ReadStamp(sector []byte) Stamp {
	if len(sector) < stampHeader {
		return Stamp{}
	}
	return Stamp{
		Magic:   binary.LittleEndian.Uint32(sector[0:]),
		Lineage: binary.LittleEndian.Uint32(sector[4:]),
		Offset:  int64(binary.LittleEndian.Uint64(sector[8:])),
		Gen:     binary.LittleEndian.Uint64(sector[16:]),
		Sum:     binary.LittleEndian.Uint32(sector[24:]),
		Check:   binary.LittleEndian.Uint32(sector[28:]),
	}
}

// IsZero reports an all-zero header (a never-written sector).
func (s Stamp) IsZero() bool { return s == Stamp{} }

// HeaderValid reports whether the magic and the header check are right.
func (s Stamp) HeaderValid() bool {
	return s.Magic == stampMagic && s.Check == headerCheck(s.Lineage, s.Offset, s.Gen, s.Sum)
}

func (s Stamp) String() string {
	switch {
	case s.IsZero():
		return "zeros"
	case s.Magic != stampMagic:
		return fmt.Sprintf("no stamp (first bytes %08x %08x)", s.Magic, s.Lineage)
	}
	str := fmt.Sprintf("{lineage %d, offset %d, generation %d}", s.Lineage, s.Offset, s.Gen)
	if !s.HeaderValid() {
		str += " with a bad header check"
	}
	return str
}

// expectedStamp renders what a packed oracle value means.
func expectedStamp(v uint64, off int64) string {
	if v == zeroContent {
		return "zeros"
	}
	l, g := unpack(v)
	return fmt.Sprintf("{lineage %d, offset %d, generation %d}", l, off, g)
}

// PayloadOK reports whether a stamped sector's payload is the one its
// header implies (used by full verification messages and tools).
func PayloadOK(sector []byte) bool {
	t, err := stampTableFor(len(sector))
	if err != nil {
		return false
	}
	s := ReadStamp(sector)
	if !s.HeaderValid() {
		return false
	}
	return bytes.Equal(sector[stampHeader:], t.payload(window(s.Lineage, s.Offset, s.Gen)))
}
