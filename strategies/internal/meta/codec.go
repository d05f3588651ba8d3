package meta

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is CRC-32C, the checksum of every metadata record.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// ChecksumUpdate extends the CRC-32C c with b: Checksum(x+y) is
// ChecksumUpdate(Checksum(x), y).
func ChecksumUpdate(c uint32, b []byte) uint32 { return crc32.Update(c, castagnoli, b) }

// Seal stores the CRC-32C of b[:crcOff], little endian, at
// b[crcOff:crcOff+4]: the sealed metadata blocks whose checksum covers the
// bytes before it (the superblock, cow's volume and exception tables,
// mirror's bitmap blocks, the paged store, linked's replica header) share
// this layout and these two functions. b must be at least crcOff+4 long.
func Seal(b []byte, crcOff int) { binary.LittleEndian.PutUint32(b[crcOff:], Checksum(b[:crcOff])) }

// Sealed reports whether b[crcOff:crcOff+4] holds the CRC-32C of
// b[:crcOff], as Seal wrote it; false when b is shorter than crcOff+4.
func Sealed(b []byte, crcOff int) bool {
	return crcOff >= 0 && len(b) >= crcOff+4 && binary.LittleEndian.Uint32(b[crcOff:]) == Checksum(b[:crcOff])
}

// ErrShort is returned by Decoder when a record ends early.
var ErrShort = errors.New("meta: record truncated")

// Encoder appends little-endian fields to a buffer.
type Encoder struct{ B []byte }

func (e *Encoder) U8(v uint8)   { e.B = append(e.B, v) }
func (e *Encoder) U16(v uint16) { e.B = binary.LittleEndian.AppendUint16(e.B, v) }
func (e *Encoder) U32(v uint32) { e.B = binary.LittleEndian.AppendUint32(e.B, v) }
func (e *Encoder) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }
func (e *Encoder) I64(v int64)  { e.U64(uint64(v)) }

// Bytes writes a length-prefixed (u32) byte string.
func (e *Encoder) Bytes(b []byte) { e.U32(uint32(len(b))); e.B = append(e.B, b...) }

// String writes a length-prefixed (u16) string.
func (e *Encoder) String(s string) { e.U16(uint16(len(s))); e.B = append(e.B, s...) }

// Decoder reads what Encoder wrote. After the first short read every read
// returns zero and Err reports ErrShort: callers check Err once at the end.
type Decoder struct {
	B   []byte
	err error
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.B) {
		d.err = ErrShort
		return nil
	}
	b := d.B[:n]
	d.B = d.B[n:]
	return b
}

func (d *Decoder) U8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *Decoder) U16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *Decoder) U32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *Decoder) U64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *Decoder) I64() int64 { return int64(d.U64()) }

// Bytes reads a length-prefixed byte string (a copy), at most max bytes.
func (d *Decoder) Bytes(max int) []byte {
	n := int(d.U32())
	if n > max {
		d.err = ErrShort
		return nil
	}
	return append([]byte(nil), d.take(n)...)
}

// String reads a length-prefixed string of at most max bytes.
func (d *Decoder) String(max int) string {
	n := int(d.U16())
	if n > max {
		d.err = ErrShort
		return ""
	}
	return string(d.take(n))
}

// Err is nil if every read so far was complete.
func (d *Decoder) Err() error { return d.err }

// Remaining is how many bytes are left.
func (d *Decoder) Remaining() int { return len(d.B) }
