package cow

import (
	"container/heap"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

// tableState is the volume table's on-device state as memory knows it: the
// committed sequence number, which header slot and which copy of each page
// hold the committed version, the record slots and the pages changed since
// the last commit. Guarded by Engine.mu.
type tableState struct {
	seq       uint64 // sequence number of the newest committed table
	hdrSlot   int    // header block holding it; the next commit writes the other
	segs      []segment
	pagesUsed uint32
	cur       []int8 // per page: the copy holding its committed version, -1: never written
	slots     []*vol // record slot -> volume, nil: free
	free      paged.SlotHeap
	dirty     map[uint32]struct{}
}

// dirtyListLimit is the most pages a commit lists in its header (tests
// lower it to exercise the other commit mode).
var dirtyListLimit = maxDirtyList

func (t *tableState) totalPages() int64 {
	var n int64
	for _, s := range t.segs {
		n += int64(s.pages)
	}
	return n
}

// pageLoc returns the segment of page p and p's index in it.
func (t *tableState) pageLoc(p uint32) (int, int64) {
	i := int64(p)
	for k, s := range t.segs {
		if i < int64(s.pages) {
			return k, i
		}
		i -= int64(s.pages)
	}
	panic(fmt.Sprintf("cow: table page %d beyond the segments", p))
}

// pageOff is the device offset of copy c of page p.
func (t *tableState) pageOff(p uint32, c int) int64 {
	k, i := t.pageLoc(p)
	return t.segs[k].off + (2*i+int64(c))*blockSize
}

func (e *Engine) pageID(p uint32) pageID {
	k, _ := e.tab.pageLoc(p)
	return pageID{nonce: e.nonce, segNonce: e.tab.segs[k].nonce, index: p}
}

// markDirtyLocked notes that record slot s changed: its page is written at
// the next commit (the inline slots are in the header, written every time).
func (e *Engine) markDirtyLocked(s int) {
	if s >= inlineRecs {
		p, _ := slotPage(s)
		e.tab.dirty[uint32(p)] = struct{}{}
	}
}

// allocSlotLocked gives v the lowest free record slot, growing the table by
// a page, and by a segment when the segments are full. The new segment's
// extent is taken from the free space at once; it becomes part of the table
// on the device with the next commit (before it, a crash leaves it free).
// O(log volumes), plus the segment allocation.
func (e *Engine) allocSlotLocked(v *vol) error {
	t := &e.tab
	if t.free.Len() == 0 {
		var p uint32
		if len(t.slots) >= inlineRecs {
			p = t.pagesUsed
			if int64(p) >= t.totalPages() {
				if err := e.growTableLocked(); err != nil {
					return err
				}
			}
			t.pagesUsed++
			t.dirty[p] = struct{}{}
		}
		n := recsPerPage
		if len(t.slots) < inlineRecs {
			n = inlineRecs
		}
		base := len(t.slots)
		t.slots = append(t.slots, make([]*vol, n)...)
		for s := base; s < base+n; s++ {
			heap.Push(&t.free, s)
		}
	}
	v.slot = heap.Pop(&t.free).(int)
	t.slots[v.slot] = v
	e.markDirtyLocked(v.slot)
	return nil
}

// freeSlotLocked releases v's record slot.
func (e *Engine) freeSlotLocked(v *vol) {
	if v.slot < 0 || v.slot >= len(e.tab.slots) || e.tab.slots[v.slot] != v {
		return
	}
	e.tab.slots[v.slot] = nil
	heap.Push(&e.tab.free, v.slot)
	e.markDirtyLocked(v.slot)
	v.slot = -1
}

// growTableLocked adds the next table segment (twice the pages of the last).
func (e *Engine) growTableLocked() error {
	t := &e.tab
	k := len(t.segs)
	if k == maxSegments {
		return fmt.Errorf("cow: %w: volume table has its %d segments", strategies.ErrNoSpace, maxSegments)
	}
	length := e.geo.segLength(k)
	off, ok := e.free.Alloc(length, e.geo.chunk)
	if !ok {
		return fmt.Errorf("cow: %w: no room to grow the volume table by %d bytes", strategies.ErrNoSpace, length)
	}
	t.segs = append(t.segs, segment{off: off, pages: uint32(segPages(k)), nonce: e.newNonce()})
	for range segPages(k) {
		t.cur = append(t.cur, -1)
	}
	return nil
}

// pageRecs returns the records of page p as memory has them (nil: free).
func (e *Engine) pageRecs(p uint32, out *[recsPerPage]*volRec) {
	base := inlineRecs + int(p)*recsPerPage
	for i := range out {
		out[i] = nil
		if s := base + i; s < len(e.tab.slots) {
			if v := e.tab.slots[s]; v != nil && !v.creating {
				out[i] = &v.volRec
			}
		}
	}
}

// headerLocked is the header memory would commit at seq.
func (e *Engine) headerLocked(seq uint64) *header {
	h := &header{seq: seq, nonce: e.nonce, nextID: e.nextID, invalidated: e.invalidated,
		pagesUsed: e.tab.pagesUsed, segs: slices.Clone(e.tab.segs)}
	for s := 0; s < inlineRecs && s < len(e.tab.slots); s++ {
		if v := e.tab.slots[s]; v != nil && !v.creating {
			h.recs[s] = v.volRec
		}
	}
	return h
}

// commitLocked makes the volume table as memory has it durable: the pages
// changed since the last commit are written into their older copies (each
// with the new sequence number), then the header into the older header
// block, listing those pages, then one flush. Loading believes a header only
// when every page it lists has a valid copy of its sequence number, so a
// crash leaves the previous table or the new one. When more pages changed
// than a header can list, the pages are flushed before the header is
// written (which then lists none). Cost: 4 KiB per changed page plus 4 KiB,
// one flush (two beyond maxDirtyList pages): independent of the number of
// volumes. The caller must have made durable everything the new table
// refers to. On error memory keeps the changes pending; the caller undoes
// its own.
func (e *Engine) commitLocked() error {
	t := &e.tab
	seq := t.seq + 1
	pages := make([]uint32, 0, len(t.dirty))
	for p := range t.dirty {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	all := len(pages) > dirtyListLimit
	buf := device.GetBuffer(blockSize)
	defer device.PutBuffer(buf)
	var recs [recsPerPage]*volRec
	copies := make([]int8, len(pages))
	for i, p := range pages {
		c := int8(0)
		if t.cur[p] == 0 {
			c = 1
		}
		copies[i] = c
		e.pageRecs(p, &recs)
		encodePage(buf, e.pageID(p), seq, recs[:])
		if _, err := e.dev.WriteAt(buf, t.pageOff(p, int(c))); err != nil {
			return fmt.Errorf("cow: commit volume table page %d: %w", p, err)
		}
	}
	if all && len(pages) > 0 {
		if err := e.fl.flush(); err != nil {
			return fmt.Errorf("cow: commit volume table: %w", err)
		}
	}
	h := e.headerLocked(seq)
	if all {
		h.all = true
	} else {
		h.dirty = pages
	}
	encodeHeader(buf, h)
	slot := 1 - t.hdrSlot
	if _, err := e.dev.WriteAt(buf, int64(slot)*blockSize); err != nil {
		return fmt.Errorf("cow: commit volume table header: %w", err)
	}
	if err := e.fl.flush(); err != nil {
		return fmt.Errorf("cow: commit volume table: %w", err)
	}
	for i, p := range pages {
		t.cur[p] = copies[i]
	}
	clear(t.dirty)
	t.seq, t.hdrSlot = seq, slot
	return nil
}

// loadedTable is a volume table read from the device with the state its
// next commit needs.
type loadedTable struct {
	volTable
	hdrSlot int
	cur     []int8
	garbage []uint32 // pages with a copy newer than the table (an aborted commit)
}

// readTable reads the newest volume table that a completed commit left: the
// header with the higher sequence number whose listed pages all carry it,
// else the other. Errors wrap ErrCorrupt, or are device errors.
func (e *Engine) readTable() (*loadedTable, error) {
	buf := device.GetBuffer(2 * blockSize)
	defer device.PutBuffer(buf)
	if _, err := e.dev.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("cow: read volume table header: %w", err)
	}
	var hs []*header
	var slots []int
	for i := 0; i < 2; i++ {
		h, ok, err := decodeHeader(buf[i*blockSize : (i+1)*blockSize])
		if err != nil {
			return nil, err
		}
		if ok {
			hs, slots = append(hs, &h), append(slots, i)
		}
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("cow: %w: no valid volume table header", strategies.ErrCorrupt)
	}
	if len(hs) == 2 && hs[1].seq > hs[0].seq {
		hs[0], hs[1] = hs[1], hs[0]
		slots[0], slots[1] = slots[1], slots[0]
	}
	var firstErr error
	for i, h := range hs {
		lt, err := e.readPages(h)
		if err == nil {
			lt.hdrSlot = slots[i]
			return lt, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !errorsIsIncomplete(err) {
			return nil, err
		}
	}
	return nil, firstErr
}

// errIncomplete marks a header whose commit did not complete.
type errIncomplete struct{ msg string }

func (e *errIncomplete) Error() string { return e.msg }
func (e *errIncomplete) Unwrap() error { return strategies.ErrCorrupt }

func errorsIsIncomplete(err error) bool {
	_, ok := err.(*errIncomplete)
	return ok
}

// readPages reads the pages in use under header h and chooses, for each,
// the valid copy with the highest sequence number not above h's.
func (e *Engine) readPages(h *header) (*loadedTable, error) {
	lt := &loadedTable{volTable: volTable{seq: h.seq, nonce: h.nonce, nextID: h.nextID, invalidated: h.invalidated,
		pagesUsed: h.pagesUsed, segs: h.segs}}
	var total int64
	for _, s := range h.segs {
		total += int64(s.pages)
	}
	if int64(h.pagesUsed) > total {
		return nil, fmt.Errorf("cow: %w: volume table header: %d pages in use, %d in its segments", strategies.ErrCorrupt, h.pagesUsed, total)
	}
	for i, s := range h.segs {
		if int64(s.pages) != segPages(i) || s.off < e.geo.dataStart || s.off%blockSize != 0 || s.off > e.geo.capacity ||
			e.geo.segLength(i) > e.geo.capacity-s.off {
			return nil, fmt.Errorf("cow: %w: volume table segment %d: %d pages at %d", strategies.ErrCorrupt, i, s.pages, s.off)
		}
	}
	lt.cur = make([]int8, total)
	for i := range lt.cur {
		lt.cur[i] = -1
	}
	for _, r := range h.recs {
		if r.id != 0 {
			lt.vols = append(lt.vols, r)
		}
	}
	listed := make(map[uint32]bool, len(h.dirty))
	for _, p := range h.dirty {
		if p >= h.pagesUsed {
			return nil, fmt.Errorf("cow: %w: volume table header lists page %d of %d", strategies.ErrCorrupt, p, h.pagesUsed)
		}
		listed[p] = true
	}
	const batch = 64 // pages per read
	buf := device.GetBuffer(2 * batch * blockSize)
	defer device.PutBuffer(buf)
	var recs [2][recsPerPage]volRec
	page := uint32(0)
	for _, s := range h.segs {
		for i := int64(0); i < int64(s.pages) && page < h.pagesUsed; {
			n := min(int64(s.pages)-i, batch, int64(h.pagesUsed-page))
			b := buf[:2*n*blockSize]
			if _, err := e.dev.ReadAt(b, s.off+2*i*blockSize); err != nil {
				return nil, fmt.Errorf("cow: read volume table page %d: %w", page, err)
			}
			for j := int64(0); j < n; j, page, i = j+1, page+1, i+1 {
				id := pageID{nonce: h.nonce, segNonce: s.nonce, index: page}
				best, bestSeq := -1, uint64(0)
				for c := 0; c < 2; c++ {
					off := (2*j + int64(c)) * blockSize
					seq, ok, err := decodePage(b[off:off+blockSize], id, &recs[c])
					switch {
					case !ok:
						continue
					case seq > h.seq:
						lt.garbage = append(lt.garbage, page)
						continue
					case err != nil:
						return nil, err
					case best >= 0 && seq == bestSeq:
						return nil, fmt.Errorf("cow: %w: volume table page %d: both copies have sequence %d", strategies.ErrCorrupt, page, seq)
					case best < 0 || seq > bestSeq:
						best, bestSeq = c, seq
					}
				}
				if listed[page] && (best < 0 || bestSeq != h.seq) {
					return nil, &errIncomplete{fmt.Sprintf("cow: volume table commit %d incomplete: page %d not written", h.seq, page)}
				}
				if best < 0 {
					return nil, fmt.Errorf("cow: %w: volume table page %d has no valid copy", strategies.ErrCorrupt, page)
				}
				lt.cur[page] = int8(best)
				for _, r := range recs[best] {
					if r.id != 0 {
						lt.vols = append(lt.vols, r)
					}
				}
			}
		}
	}
	slices.SortFunc(lt.vols, func(a, b volRec) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return a.slot - b.slot
	})
	return lt, nil
}
