// Package paged is a crash-consistent table of fixed-size records whose
// commits write only the pages that changed: the volume tables of the full
// and mirror engines. See Store.
package paged

import (
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// Store is a crash-consistent table of fixed-size records whose
// commits write only what changed. Records live in slots: the first
// inline of them in the header block, the others in 4 KiB pages of
// perPage records, each page in two copies, in segments (extents of the
// data area, segment i holding firstSegPages<<i pages) allocated as the
// table grows. A commit writes every changed page into its copy that does
// not hold its committed version, with the new sequence number, then the
// header into the older of two header blocks, listing those pages, then
// flushes once. Load takes the header with the higher sequence number whose
// listed pages all have a valid copy of that sequence, else the other; for
// each page in use, the valid copy with the highest sequence not above the
// header's. A commit changing more pages than a header lists flushes the
// pages before writing the header (which then lists none). A page copy is
// believed only with the format's nonce, its segment's nonce and its own
// number. Slots are handed out lowest first, so the pages in use are a
// prefix. Not safe for concurrent use.
//
// Header block (4096 bytes): magic [4], version u32, sequence u64, format
// nonce u64, segment count u16, listed-page count u16 (0xffff: none,
// pages flushed first), pages in use u32, the owner's fields (64 bytes) at
// 32, 16 segments (offset u64, pages u32, nonce u64) at 96, the inline
// records at 416, the listed page numbers (u32) after them, CRC-32C of
// [0, 4092) at 4092. Page: magic [4], page number u32, segment nonce u64,
// format nonce u64, sequence u64, records from 32, CRC-32C at 4092.
type Store struct {
	dev       device.Device
	hdrOff    int64 // header blocks at hdrOff and hdrOff+4096
	magic     [2][4]byte
	recSize   int
	perPage   int
	inline    int
	chunk     int64
	nonce     uint64
	ownerMeta []byte // the owner's header fields, at most OwnerLen bytes

	seq       uint64
	hdrSlot   int
	segs      []pageSegment
	pagesUsed uint32
	cur       []int8
	used      []bool // slot in use
	free      SlotHeap
	dirty     map[uint32]struct{}
	maxList   int
}

type pageSegment struct {
	off   int64
	pages uint32
	nonce uint64
}

// The layout the package doc gives, for tests that corrupt it on purpose.
const (
	BlockSize   = 4096                  // header blocks and pages
	OwnerLen    = 64                    // the owner's header fields
	SegmentsOff = psOwnerOff + OwnerLen // the segment list in a header
	CRCOff      = BlockSize - 4         // the CRC-32C of a header or page
)

const (
	psOwnerOff    = 32
	psSegsOff     = SegmentsOff
	psSegSize     = 20
	psMaxSegs     = 16
	psRecsOff     = psSegsOff + psMaxSegs*psSegSize
	psCRCOff      = CRCOff
	psPageHeader  = 32
	psTrustAll    = 0xffff
	firstSegPages = 8
	psVersion     = 1
)

// SlotHeap is a container/heap of free record slots that hands out the
// lowest first, so a table stays a prefix of its pages (the Store's, and
// cow's volume table's).
type SlotHeap []int

func (h SlotHeap) Len() int           { return len(h) }
func (h SlotHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h SlotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *SlotHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *SlotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// New describes a store whose two header blocks are at hdrOff of dev;
// magic[0] marks its headers and magic[1] its pages; records are recSize
// bytes, the first inline of them in the header; segments are whole
// chunks. Format or Load sets it up.
func New(dev device.Device, hdrOff int64, magic [2][4]byte, recSize, inline int, chunk int64) *Store {
	s := &Store{dev: dev, hdrOff: hdrOff, magic: magic, recSize: recSize, inline: inline, chunk: chunk,
		perPage: (BlockSize - psPageHeader - 4) / recSize, hdrSlot: 1, dirty: map[uint32]struct{}{}}
	s.maxList = (psCRCOff - psRecsOff - inline*recSize) / 4
	return s
}

// SegLength is the device length of segment i (both copies of its pages,
// whole chunks).
func (s *Store) SegLength(i int) int64 {
	n := 2 * (int64(firstSegPages) << i) * BlockSize
	return (n + s.chunk - 1) / s.chunk * s.chunk
}

// Format makes s a new, empty table (a fresh nonce: nothing an earlier
// format left on the device is believed); the first Commit writes it.
func (s *Store) Format() { s.nonce = s.newNonce() }

// Owner is the owner's header fields as the last Load found them.
func (s *Store) Owner() []byte { return s.ownerMeta }

// SetOwner sets the owner's header fields (at most OwnerLen bytes) that
// the next Commit writes.
func (s *Store) SetOwner(b []byte) { s.ownerMeta = b }

// Extent is a device range a segment of the table occupies.
type Extent struct{ Off, Len int64 }

// Extents lists the table's segments, which the owner must not allocate
// to anything else.
func (s *Store) Extents() []Extent {
	out := make([]Extent, len(s.segs))
	for i, g := range s.segs {
		out[i] = Extent{g.off, s.SegLength(i)}
	}
	return out
}

// SetMaxList bounds how many pages a header lists (tests: commits that
// flush their pages before the header).
func (s *Store) SetMaxList(n int) { s.maxList = n }

func (s *Store) newNonce() uint64 {
	var b [8]byte
	rand.Read(b[:]) // never fails
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// slotPage is the page of slot sl (sl >= inline) and its index there.
func (s *Store) slotPage(sl int) (uint32, int) {
	t := sl - s.inline
	return uint32(t / s.perPage), t % s.perPage
}

// MarkDirty schedules slot sl's page for the next Commit (its record
// changed).
func (s *Store) MarkDirty(sl int) {
	if sl >= s.inline {
		p, _ := s.slotPage(sl)
		s.dirty[p] = struct{}{}
	}
}

// Alloc hands out the lowest free slot, growing the table by a page (and a
// segment taken with allocExtent when the segments are full).
func (s *Store) Alloc(allocExtent func(int64) (int64, bool)) (int, error) {
	if s.free.Len() == 0 {
		if err := s.grow(allocExtent); err != nil {
			return 0, err
		}
	}
	sl := heap.Pop(&s.free).(int)
	s.used[sl] = true
	s.MarkDirty(sl)
	return sl, nil
}

// Reserve makes room for n more records now, taking whatever segments
// that needs with allocExtent, so that the next n Allocs cannot fail. The
// room it makes is free slots: nothing is written until a commit uses
// them, and a segment no committed header names is free space again after
// a crash.
func (s *Store) Reserve(n int, allocExtent func(int64) (int64, bool)) error {
	for s.free.Len() < n {
		if err := s.grow(allocExtent); err != nil {
			return err
		}
	}
	return nil
}

// grow adds free slots: the inline ones first, then a page (and a segment
// when the segments are full).
func (s *Store) grow(allocExtent func(int64) (int64, bool)) error {
	n := s.perPage
	if len(s.used) < s.inline {
		n = s.inline
	} else {
		p := s.pagesUsed
		if int64(p) >= s.totalPages() {
			k := len(s.segs)
			if k == psMaxSegs {
				return fmt.Errorf("volume table has its %d segments: %w", psMaxSegs, strategies.ErrNoSpace)
			}
			off, ok := allocExtent(s.SegLength(k))
			if !ok {
				return fmt.Errorf("no room to grow the volume table by %d bytes: %w", s.SegLength(k), strategies.ErrNoSpace)
			}
			s.segs = append(s.segs, pageSegment{off: off, pages: uint32(firstSegPages) << k, nonce: s.newNonce()})
			for range firstSegPages << k {
				s.cur = append(s.cur, -1)
			}
		}
		s.pagesUsed++
		s.dirty[p] = struct{}{}
	}
	base := len(s.used)
	s.used = append(s.used, make([]bool, n)...)
	for sl := base; sl < base+n; sl++ {
		heap.Push(&s.free, sl)
	}
	return nil
}

// Release frees slot sl; the next Commit writes it as zeros.
func (s *Store) Release(sl int) {
	if sl < 0 || sl >= len(s.used) || !s.used[sl] {
		return
	}
	s.used[sl] = false
	heap.Push(&s.free, sl)
	s.MarkDirty(sl)
}

func (s *Store) totalPages() int64 {
	var n int64
	for _, g := range s.segs {
		n += int64(g.pages)
	}
	return n
}

func (s *Store) pageLoc(p uint32) (int, int64) {
	i := int64(p)
	for k, g := range s.segs {
		if i < int64(g.pages) {
			return k, i
		}
		i -= int64(g.pages)
	}
	panic(fmt.Sprintf("table page %d beyond the segments", p))
}

// Commit makes the table durable; encode(slot, b) writes slot's record
// into b (b is zero for a free slot and must stay zero). On error the
// changes stay pending.
func (s *Store) Commit(flush func() error, encode func(int, []byte)) error {
	seq := s.seq + 1
	pages := make([]uint32, 0, len(s.dirty))
	for p := range s.dirty {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	all := len(pages) > s.maxList
	buf := device.GetBuffer(BlockSize)
	defer device.PutBuffer(buf)
	le := binary.LittleEndian
	copies := make([]int8, len(pages))
	for i, p := range pages {
		c := int8(0)
		if s.cur[p] == 0 {
			c = 1
		}
		copies[i] = c
		k, idx := s.pageLoc(p)
		clear(buf)
		copy(buf, s.magic[1][:])
		le.PutUint32(buf[4:], p)
		le.PutUint64(buf[8:], s.segs[k].nonce)
		le.PutUint64(buf[16:], s.nonce)
		le.PutUint64(buf[24:], seq)
		base := s.inline + int(p)*s.perPage
		for j := 0; j < s.perPage; j++ {
			if sl := base + j; sl < len(s.used) && s.used[sl] {
				encode(sl, buf[psPageHeader+j*s.recSize:psPageHeader+(j+1)*s.recSize])
			}
		}
		meta.Seal(buf, psCRCOff)
		if _, err := s.dev.WriteAt(buf, s.segs[k].off+(2*idx+int64(c))*BlockSize); err != nil {
			return fmt.Errorf("write table page %d: %w", p, err)
		}
	}
	if all && len(pages) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	clear(buf)
	copy(buf, s.magic[0][:])
	le.PutUint32(buf[4:], psVersion)
	le.PutUint64(buf[8:], seq)
	le.PutUint64(buf[16:], s.nonce)
	le.PutUint16(buf[24:], uint16(len(s.segs)))
	if all {
		le.PutUint16(buf[26:], psTrustAll)
	} else {
		le.PutUint16(buf[26:], uint16(len(pages)))
	}
	le.PutUint32(buf[28:], s.pagesUsed)
	copy(buf[psOwnerOff:psOwnerOff+OwnerLen], s.ownerMeta)
	for i, g := range s.segs {
		o := psSegsOff + i*psSegSize
		le.PutUint64(buf[o:], uint64(g.off))
		le.PutUint32(buf[o+8:], g.pages)
		le.PutUint64(buf[o+12:], g.nonce)
	}
	for sl := 0; sl < s.inline && sl < len(s.used); sl++ {
		if s.used[sl] {
			encode(sl, buf[psRecsOff+sl*s.recSize:psRecsOff+(sl+1)*s.recSize])
		}
	}
	if !all {
		listOff := psRecsOff + s.inline*s.recSize
		for i, p := range pages {
			le.PutUint32(buf[listOff+4*i:], p)
		}
	}
	meta.Seal(buf, psCRCOff)
	slot := 1 - s.hdrSlot
	if _, err := s.dev.WriteAt(buf, s.hdrOff+int64(slot)*BlockSize); err != nil {
		return fmt.Errorf("write table header: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	for i, p := range pages {
		s.cur[p] = copies[i]
	}
	clear(s.dirty)
	s.seq, s.hdrSlot = seq, slot
	return nil
}

// errIncomplete marks a header whose commit did not complete.
type errIncomplete struct{ msg string }

func (e *errIncomplete) Error() string { return e.msg }
func (e *errIncomplete) Unwrap() error { return strategies.ErrCorrupt }

// Load reads the newest completed table and sets the store up to commit
// after it. record(slot, b) receives every slot whose record is not all
// zeros. Problems wrap ErrCorrupt; device errors pass through. It never
// panics on any device content. capacity bounds the segments.
func (s *Store) Load(dataStart, capacity int64, record func(int, []byte) error) error {
	buf := device.GetBuffer(2 * BlockSize)
	defer device.PutBuffer(buf)
	if _, err := s.dev.ReadAt(buf, s.hdrOff); err != nil {
		return fmt.Errorf("read table header: %w", err)
	}
	le := binary.LittleEndian
	type cand struct {
		slot int
		seq  uint64
	}
	var cs []cand
	for i := 0; i < 2; i++ {
		b := buf[i*BlockSize : (i+1)*BlockSize]
		if [4]byte(b[:4]) == s.magic[0] && meta.Sealed(b, psCRCOff) {
			cs = append(cs, cand{i, le.Uint64(b[8:])})
		}
	}
	if len(cs) == 0 {
		return fmt.Errorf("%w: no valid volume table header", strategies.ErrCorrupt)
	}
	if len(cs) == 2 && cs[1].seq > cs[0].seq {
		cs[0], cs[1] = cs[1], cs[0]
	}
	var firstErr error
	for _, c := range cs {
		hdr := append([]byte(nil), buf[c.slot*BlockSize:(c.slot+1)*BlockSize]...)
		err := s.loadFrom(hdr, c.slot, dataStart, capacity, record)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if _, ok := err.(*errIncomplete); !ok {
			return err
		}
	}
	return firstErr
}

func (s *Store) loadFrom(h []byte, slot int, dataStart, capacity int64, record func(int, []byte) error) error {
	le := binary.LittleEndian
	if v := le.Uint32(h[4:]); v != psVersion {
		return fmt.Errorf("%w: volume table version %d", strategies.ErrCorrupt, v)
	}
	seq, nonce := le.Uint64(h[8:]), le.Uint64(h[16:])
	ns, nd, used := int(le.Uint16(h[24:])), int(le.Uint16(h[26:])), le.Uint32(h[28:])
	if ns > psMaxSegs || (nd > s.maxList && nd != psTrustAll) {
		return fmt.Errorf("%w: volume table header: %d segments, %d pages listed", strategies.ErrCorrupt, ns, nd)
	}
	var segs []pageSegment
	var total int64
	for i := 0; i < ns; i++ {
		o := psSegsOff + i*psSegSize
		g := pageSegment{off: int64(le.Uint64(h[o:])), pages: le.Uint32(h[o+8:]), nonce: le.Uint64(h[o+12:])}
		if int64(g.pages) != int64(firstSegPages)<<i || g.off < dataStart || g.off%s.chunk != 0 || g.off > capacity || s.SegLength(i) > capacity-g.off {
			return fmt.Errorf("%w: volume table segment %d: %d pages at %d", strategies.ErrCorrupt, i, g.pages, g.off)
		}
		total += int64(g.pages)
		segs = append(segs, g)
	}
	if int64(used) > total {
		return fmt.Errorf("%w: %d table pages in use, %d in the segments", strategies.ErrCorrupt, used, total)
	}
	listed := map[uint32]bool{}
	if nd != psTrustAll {
		listOff := psRecsOff + s.inline*s.recSize
		for i := 0; i < nd; i++ {
			p := le.Uint32(h[listOff+4*i:])
			if p >= used {
				return fmt.Errorf("%w: volume table header lists page %d of %d", strategies.ErrCorrupt, p, used)
			}
			listed[p] = true
		}
	}
	nslots := s.inline + int(used)*s.perPage
	usedSlots := make([]bool, nslots)
	type slotRec struct {
		sl int
		b  []byte
	}
	var recs []slotRec // delivered once this header proves complete
	rec := func(sl int, b []byte) error {
		if IsZero(b) {
			return nil
		}
		usedSlots[sl] = true
		recs = append(recs, slotRec{sl, append([]byte(nil), b...)})
		return nil
	}
	for sl := 0; sl < s.inline; sl++ {
		if err := rec(sl, h[psRecsOff+sl*s.recSize:psRecsOff+(sl+1)*s.recSize]); err != nil {
			return err
		}
	}
	cur := make([]int8, total)
	for i := range cur {
		cur[i] = -1
	}
	var garbage []uint32
	const batch = 64
	pbuf := device.GetBuffer(2 * batch * BlockSize)
	defer device.PutBuffer(pbuf)
	page := uint32(0)
	for _, g := range segs {
		for i := int64(0); i < int64(g.pages) && page < used; {
			n := min(int64(g.pages)-i, batch, int64(used-page))
			b := pbuf[:2*n*BlockSize]
			if _, err := s.dev.ReadAt(b, g.off+2*i*BlockSize); err != nil {
				return fmt.Errorf("read table page %d: %w", page, err)
			}
			for j := int64(0); j < n; j, page, i = j+1, page+1, i+1 {
				best, bestSeq := -1, uint64(0)
				for c := 0; c < 2; c++ {
					pb := b[(2*j+int64(c))*BlockSize : (2*j+int64(c)+1)*BlockSize]
					if [4]byte(pb[:4]) != s.magic[1] || !meta.Sealed(pb, psCRCOff) ||
						le.Uint32(pb[4:]) != page || le.Uint64(pb[8:]) != g.nonce || le.Uint64(pb[16:]) != nonce {
						continue
					}
					ps := le.Uint64(pb[24:])
					switch {
					case ps > seq:
						garbage = append(garbage, page)
					case best >= 0 && ps == bestSeq:
						return fmt.Errorf("%w: volume table page %d: both copies have sequence %d", strategies.ErrCorrupt, page, ps)
					case best < 0 || ps > bestSeq:
						best, bestSeq = c, ps
					}
				}
				if listed[page] && (best < 0 || bestSeq != seq) {
					return &errIncomplete{fmt.Sprintf("volume table commit %d incomplete: page %d not written", seq, page)}
				}
				if best < 0 {
					return fmt.Errorf("%w: volume table page %d has no valid copy", strategies.ErrCorrupt, page)
				}
				cur[page] = int8(best)
				pb := b[(2*j+int64(best))*BlockSize : (2*j+int64(best)+1)*BlockSize]
				if !IsZero(pb[psPageHeader+s.perPage*s.recSize : psCRCOff]) {
					return fmt.Errorf("%w: volume table page %d: bytes after the records", strategies.ErrCorrupt, page)
				}
				base := s.inline + int(page)*s.perPage
				for k := 0; k < s.perPage; k++ {
					if err := rec(base+k, pb[psPageHeader+k*s.recSize:psPageHeader+(k+1)*s.recSize]); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, r := range recs {
		if err := record(r.sl, r.b); err != nil {
			return err
		}
	}
	s.seq, s.hdrSlot, s.nonce, s.segs, s.pagesUsed, s.cur = seq, slot, nonce, segs, used, cur
	s.ownerMeta = append([]byte(nil), h[psOwnerOff:psOwnerOff+OwnerLen]...)
	s.used = usedSlots
	s.free = s.free[:0]
	for sl, u := range usedSlots {
		if !u {
			s.free = append(s.free, sl) // ascending: a heap already
		}
	}
	clear(s.dirty)
	for _, p := range garbage {
		s.dirty[p] = struct{}{} // rewrite the copy an aborted commit left before it can mislead
	}
	return nil
}

// IsZero reports whether b is all zeros (a free record).
func IsZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// MetaBytes is the store's own space on the device beyond the headers.
func (s *Store) MetaBytes() int64 {
	var n int64
	for i := range s.segs {
		n += s.SegLength(i)
	}
	return n
}
