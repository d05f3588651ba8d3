package row

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The space map holds a 32-bit reference count for every data chunk (map
// 0) and every node block (map 1), in 4 KiB pages numbered data pages
// first:
//
//	0   magic "RWSM"
//	4   CRC-32C of bytes [8, 4096)
//	8   page number (u64)
//	16  generation: the transaction that wrote this copy (u64)
//	24  reserved (zero)
//	32  1016 reference counts (u32)
//
// Each page has two fixed copies; a transaction writes a changed page to the
// copy that is not current, and the commit makes it current. Which copy is
// current is kept in the index pages, which alternate the same way and whose
// current copies the commit record names:
//
//	0   magic "RWSI", CRC-32C, index page number, generation, reserved
//	32  2032 entries (u16), one per space-map page: bit 15 current copy,
//	    bit 14 materialized (never written pages read as all zero), bits 0-9
//	    allocatable entries in the page
//
// A reference count is the number of pointers to the block: from volume
// records (mapping roots), the commit record (the volume-table root),
// internal nodes (children) and mapping leaves (data chunks). A block whose
// count drops to zero is quarantined until the commit that frees it is
// durable: the last committed trees may still point to it.
const (
	pageHeader = 32
	smPerPage  = (blockSize - pageHeader) / 4
	idxPerPage = (blockSize - pageHeader) / 2
	smMagic    = 0x4d535752 // "RWSM"
	idxMagic   = 0x49535752 // "RWSI"
	pageKeyBit = uint64(1) << 63
	dataMap    = 0
	metaMap    = 1

	stCur     = 1 // current copy is 1
	stMat     = 2 // materialized: the current copy exists on the device
	stWritten = 4 // written this transaction to the non-current copy

	idxCurBit  = 1 << 15
	idxMatBit  = 1 << 14
	idxFreeMax = 1<<10 - 1
)

// spaceMap is the engine's allocator and reference counter. All methods
// lock mu; pages are reached through the block cache. Page states are
// atomic because the cache's load and store callbacks read them without mu.
type spaceMap struct {
	mu    sync.Mutex
	cache *blockCache
	n     [2]uint64 // entries per map
	base  [2]uint64 // first page of each map
	np    [2]uint64 // pages of each map

	free        []uint32        // per page: allocatable entries (not used, not quarantined)
	state       []atomic.Uint32 // per page: stCur | stMat | stWritten
	touched     []bool          // per page: changed this transaction
	touchedList []uint64
	idxDirty    []bool // per index page: must be written at the next commit

	quar     [2]map[uint64]struct{} // freed this transaction, not reusable yet
	quarList [2][]uint64
	used     [2]uint64 // referenced or quarantined entries
	cursor   [2]uint64 // next-fit allocation cursors

	reserved int64 // node blocks promised to reservations
	vt       vtAccount
}

func newSpaceMap(l layout, cache *blockCache) *spaceMap {
	s := &spaceMap{cache: cache,
		n:    [2]uint64{l.dataChunks, l.metaBlocks},
		base: [2]uint64{0, l.dataPages},
		np:   [2]uint64{l.dataPages, l.metaPages},
	}
	p := l.pages()
	s.free = make([]uint32, p)
	s.state = make([]atomic.Uint32, p)
	s.touched = make([]bool, p)
	s.idxDirty = make([]bool, l.idxPages)
	s.quar = [2]map[uint64]struct{}{{}, {}}
	return s
}

func (s *spaceMap) kindOf(p uint64) int {
	if p >= s.base[metaMap] {
		return metaMap
	}
	return dataMap
}

// entriesIn is the number of counts page p holds.
func (s *spaceMap) entriesIn(p uint64) int {
	k := s.kindOf(p)
	return int(min(smPerPage, s.n[k]-(p-s.base[k])*smPerPage))
}

func (s *spaceMap) locate(k int, idx uint64) (uint64, int) {
	return s.base[k] + idx/smPerPage, pageHeader + 4*int(idx%smPerPage)
}

func (s *spaceMap) touch(p uint64) {
	if !s.touched[p] {
		s.touched[p] = true
		s.touchedList = append(s.touchedList, p)
	}
	s.idxDirty[p/idxPerPage] = true
}

func errRange(k int, idx uint64) error {
	what := "data chunk"
	if k == metaMap {
		what = "node block"
	}
	return fmt.Errorf("row: %w: %s %d out of range", strategies.ErrCorrupt, what, idx)
}

// get returns one reference count.
func (s *spaceMap) get(k int, idx uint64) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(k, idx)
}

func (s *spaceMap) getLocked(k int, idx uint64) (uint32, error) {
	if idx >= s.n[k] {
		return 0, errRange(k, idx)
	}
	p, off := s.locate(k, idx)
	f, err := s.cache.get(pageKeyBit | p)
	if err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(f.buf[off:])
	s.cache.put(f, false)
	return v, nil
}

// getMany fills out[i] with the count of idxs[i].
func (s *spaceMap) getMany(k int, idxs []uint64, out []uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *frame
	var fp uint64
	defer func() {
		if f != nil {
			s.cache.put(f, false)
		}
	}()
	for i, idx := range idxs {
		if idx >= s.n[k] {
			return errRange(k, idx)
		}
		p, off := s.locate(k, idx)
		if f == nil || fp != p {
			if f != nil {
				s.cache.put(f, false)
				f = nil
			}
			var err error
			if f, err = s.cache.get(pageKeyBit | p); err != nil {
				return err
			}
			fp = p
		}
		out[i] = binary.LittleEndian.Uint32(f.buf[off:])
	}
	return nil
}

// adjust adds delta to the count of every idx. A count may not rise from
// zero (only alloc does that) nor fall below it; one that reaches zero is
// quarantined. It returns the count of the last idx.
func (s *spaceMap) adjust(k int, idxs []uint64, delta int64) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *frame
	var fp uint64
	changed := false
	defer func() {
		if f != nil {
			s.cache.put(f, changed)
		}
	}()
	var last uint32
	for _, idx := range idxs {
		if idx >= s.n[k] {
			return 0, errRange(k, idx)
		}
		p, off := s.locate(k, idx)
		if f == nil || fp != p {
			if f != nil {
				s.cache.put(f, changed)
				f = nil
			}
			var err error
			if f, err = s.cache.get(pageKeyBit | p); err != nil {
				return 0, err
			}
			fp, changed = p, false
		}
		v := int64(binary.LittleEndian.Uint32(f.buf[off:]))
		nv := v + delta
		switch {
		case v == 0 && delta > 0:
			return 0, fmt.Errorf("row: %w: reference added to free block %d (map %d)", strategies.ErrCorrupt, idx, k)
		case nv < 0:
			return 0, fmt.Errorf("row: %w: reference count of block %d (map %d) below zero", strategies.ErrCorrupt, idx, k)
		case nv > math.MaxUint32:
			return 0, fmt.Errorf("row: reference count of block %d overflows: %w", idx, strategies.ErrNoSpace)
		}
		binary.LittleEndian.PutUint32(f.buf[off:], uint32(nv))
		changed = true
		s.touch(p)
		if nv == 0 {
			s.quar[k][idx] = struct{}{}
			s.quarList[k] = append(s.quarList[k], idx)
		}
		last = uint32(nv)
	}
	return last, nil
}

// alloc finds a free entry next-fit from the cursor and gives it count 1.
func (s *spaceMap) alloc(k int) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocLocked(k)
}

func (s *spaceMap) allocLocked(k int) (uint64, error) {
	if s.used[k] >= s.n[k] {
		return 0, strategies.ErrNoSpace
	}
	np := s.np[k]
	start := s.cursor[k] % s.n[k]
	sp := start / smPerPage
	for i := uint64(0); i <= np; i++ {
		pi := (sp + i) % np
		p := s.base[k] + pi
		if s.free[p] == 0 {
			continue
		}
		from := 0
		if i == 0 {
			from = int(start % smPerPage)
		}
		f, err := s.cache.get(pageKeyBit | p)
		if err != nil {
			return 0, err
		}
		cnt := s.entriesIn(p)
		for j := from; j < cnt; j++ {
			off := pageHeader + 4*j
			if binary.LittleEndian.Uint32(f.buf[off:]) != 0 {
				continue
			}
			idx := pi*smPerPage + uint64(j)
			if _, q := s.quar[k][idx]; q {
				continue
			}
			binary.LittleEndian.PutUint32(f.buf[off:], 1)
			s.cache.put(f, true)
			s.free[p]--
			s.used[k]++
			s.touch(p)
			s.cursor[k] = idx + 1
			return idx, nil
		}
		s.cache.put(f, false)
	}
	return 0, fmt.Errorf("row: %w: space map free counts disagree with its pages (map %d)", strategies.ErrCorrupt, k)
}

// unalloc returns an entry that alloc gave out and nothing ever referenced
// (a copy-on-write whose mapping was not installed): it is free at once.
func (s *spaceMap) unalloc(k int, idx uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, off := s.locate(k, idx)
	f, err := s.cache.get(pageKeyBit | p)
	if err != nil {
		return err
	}
	if v := binary.LittleEndian.Uint32(f.buf[off:]); v != 1 {
		s.cache.put(f, false)
		return fmt.Errorf("row: %w: unalloc of block %d with count %d", strategies.ErrCorrupt, idx, v)
	}
	binary.LittleEndian.PutUint32(f.buf[off:], 0)
	s.cache.put(f, true)
	s.free[p]++
	s.used[k]--
	s.touch(p)
	return nil
}

// quarantined is the number of entries freed this transaction.
func (s *spaceMap) quarantined() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.quarList[0]) + len(s.quarList[1])
}

// releaseQuarantine makes the entries freed this transaction allocatable;
// the commit calls it once nothing will allocate before the commit record
// is durable.
func (s *spaceMap) releaseQuarantine() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range 2 {
		for _, idx := range s.quarList[k] {
			p, _ := s.locate(k, idx)
			s.free[p]++
			s.used[k]--
			s.idxDirty[p/idxPerPage] = true
		}
		clear(s.quar[k])
		s.quarList[k] = s.quarList[k][:0]
	}
}

// resv is a reservation of node blocks for one metadata change, so that a
// change never runs out of space half-way.
type resv struct {
	n         int64 // blocks still reserved
	allocated int   // nodes allocated under it
	freed     int   // nodes freed under it
}

// vtAccount reserves the node blocks that the next commit needs to rewrite
// the volume table: shadowing the paths of dirty and removed records
// (never more than the whole table) plus splits for new records.
type vtAccount struct {
	levels, nodes int // shape of the committed volume table
	dirty, added  int // records to rewrite or remove, records to insert
	held          int64
}

func (a vtAccount) need(dirty, added int) int64 {
	if dirty+added == 0 {
		return 0
	}
	l := max(a.levels, 1)
	return int64(min((dirty+added)*l, a.nodes) + (added+12)/13 + l + 1)
}

// floor is what ordinary reservations leave free so that Delete (which
// frees space) can always rewrite the volume table.
func (s *spaceMap) floorLocked() int64 { return int64(s.vt.levels) + 2 }

func (s *spaceMap) availLocked(useFloor bool) int64 {
	a := int64(s.n[metaMap]-s.used[metaMap]) - s.reserved
	if !useFloor {
		a -= s.floorLocked()
	}
	return a
}

// reserve reserves n node blocks.
func (s *spaceMap) reserve(n int64) (resv, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.availLocked(false) < n {
		return resv{}, strategies.ErrNoSpace
	}
	s.reserved += n
	return resv{n: n}, nil
}

// release returns what is left of a reservation.
func (s *spaceMap) release(r *resv) {
	s.mu.Lock()
	s.reserved -= r.n
	r.n = 0
	s.mu.Unlock()
}

// vtGrow accounts dDirty more dirty records and dAdded more new records for
// the next commit, reserving the blocks they may need. Delete passes
// useFloor.
func (s *spaceMap) vtGrow(dDirty, dAdded int, useFloor bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.vt.need(s.vt.dirty+dDirty, s.vt.added+dAdded)
	if delta := need - s.vt.held; delta > 0 {
		if s.availLocked(useFloor) < delta {
			return strategies.ErrNoSpace
		}
		s.reserved += delta
		s.vt.held += delta
	}
	s.vt.dirty += dDirty
	s.vt.added += dAdded
	return nil
}

// vtTake hands the volume-table reservation to the commit.
func (s *spaceMap) vtTake() resv {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := resv{n: s.vt.held}
	s.vt.held, s.vt.dirty, s.vt.added = 0, 0, 0
	return r
}

// allocNode allocates a node block, from r when it has blocks left, and
// returns its address (index + 1).
func (s *spaceMap) allocNode(r *resv) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r != nil && r.n > 0 {
		r.n--
		s.reserved--
	} else if s.availLocked(true) <= 0 {
		return 0, strategies.ErrNoSpace
	}
	idx, err := s.allocLocked(metaMap)
	if err != nil {
		return 0, err
	}
	if r != nil {
		r.allocated++
	}
	return idx + 1, nil
}

// usedCounts returns the used (referenced or quarantined) entries of each map.
func (s *spaceMap) usedCounts() (data, nodes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[dataMap], s.used[metaMap]
}

// encodeIdxPage encodes index page i from the page states given by st.
func (s *spaceMap) encodeIdxPage(buf []byte, i, gen uint64, st func(p uint64) uint32) {
	clear(buf)
	binary.LittleEndian.PutUint32(buf, idxMagic)
	binary.LittleEndian.PutUint64(buf[8:], i)
	binary.LittleEndian.PutUint64(buf[16:], gen)
	for j := uint64(0); j < idxPerPage; j++ {
		p := i*idxPerPage + j
		if p >= uint64(len(s.free)) {
			break
		}
		v := uint16(s.free[p])
		state := st(p)
		if state&stCur != 0 {
			v |= idxCurBit
		}
		if state&stMat != 0 {
			v |= idxMatBit
		}
		binary.LittleEndian.PutUint16(buf[pageHeader+2*j:], v)
	}
	binary.LittleEndian.PutUint32(buf[4:], meta.Checksum(buf[8:]))
}

// decodeIdxPage validates index page i (whose copy was written at most at
// generation maxGen) and returns, per space-map page it covers, the state
// bits and the free count. pages is the number of space-map pages and
// entries(p) the counts page p holds. It never panics.
func decodeIdxPage(buf []byte, i, maxGen, pages uint64, entries func(p uint64) int, fn func(p uint64, state, free uint32)) error {
	if len(buf) != blockSize || binary.LittleEndian.Uint32(buf) != idxMagic {
		return fmt.Errorf("%w: index page %d: bad magic", strategies.ErrCorrupt, i)
	}
	if binary.LittleEndian.Uint32(buf[4:]) != meta.Checksum(buf[8:]) {
		return fmt.Errorf("%w: index page %d: checksum mismatch", strategies.ErrCorrupt, i)
	}
	if got := binary.LittleEndian.Uint64(buf[8:]); got != i {
		return fmt.Errorf("%w: index page %d holds page %d", strategies.ErrCorrupt, i, got)
	}
	if g := binary.LittleEndian.Uint64(buf[16:]); g > maxGen {
		return fmt.Errorf("%w: index page %d: generation %d beyond %d", strategies.ErrCorrupt, i, g, maxGen)
	}
	if binary.LittleEndian.Uint64(buf[24:]) != 0 {
		return fmt.Errorf("%w: index page %d: reserved field set", strategies.ErrCorrupt, i)
	}
	for j := uint64(0); j < idxPerPage; j++ {
		p := i*idxPerPage + j
		v := binary.LittleEndian.Uint16(buf[pageHeader+2*j:])
		if p >= pages {
			if v != 0 {
				return fmt.Errorf("%w: index page %d: entry %d beyond the space map", strategies.ErrCorrupt, i, j)
			}
			continue
		}
		free := uint32(v & idxFreeMax)
		if v&^(idxCurBit|idxMatBit|idxFreeMax) != 0 || int(free) > entries(p) {
			return fmt.Errorf("%w: index page %d: bad entry %#x for space-map page %d", strategies.ErrCorrupt, i, v, p)
		}
		var st uint32
		if v&idxCurBit != 0 {
			st |= stCur
		}
		if v&idxMatBit != 0 {
			st |= stMat
		}
		fn(p, st, free)
	}
	return nil
}

// checkSMPage validates space-map page p read from the device: header,
// checksum, generation at most maxGen, and zero counts past the entries it
// holds. It never panics.
func checkSMPage(buf []byte, p, maxGen uint64, entries int) error {
	if len(buf) != blockSize || binary.LittleEndian.Uint32(buf) != smMagic {
		return fmt.Errorf("%w: space-map page %d: bad magic", strategies.ErrCorrupt, p)
	}
	if binary.LittleEndian.Uint32(buf[4:]) != meta.Checksum(buf[8:]) {
		return fmt.Errorf("%w: space-map page %d: checksum mismatch", strategies.ErrCorrupt, p)
	}
	if got := binary.LittleEndian.Uint64(buf[8:]); got != p {
		return fmt.Errorf("%w: space-map page %d holds page %d", strategies.ErrCorrupt, p, got)
	}
	if g := binary.LittleEndian.Uint64(buf[16:]); g > maxGen {
		return fmt.Errorf("%w: space-map page %d: generation %d beyond %d", strategies.ErrCorrupt, p, g, maxGen)
	}
	if binary.LittleEndian.Uint64(buf[24:]) != 0 {
		return fmt.Errorf("%w: space-map page %d: reserved field set", strategies.ErrCorrupt, p)
	}
	if entries < 0 || entries > smPerPage {
		return fmt.Errorf("%w: space-map page %d: %d entries", strategies.ErrCorrupt, p, entries)
	}
	for j := entries; j < smPerPage; j++ {
		if binary.LittleEndian.Uint32(buf[pageHeader+4*j:]) != 0 {
			return fmt.Errorf("%w: space-map page %d: count past its last entry", strategies.ErrCorrupt, p)
		}
	}
	return nil
}

// initSMPage writes the header of a space-map page that was never written.
func initSMPage(buf []byte, p uint64) {
	clear(buf)
	binary.LittleEndian.PutUint32(buf, smMagic)
	binary.LittleEndian.PutUint64(buf[8:], p)
}

// sealSMPage sets a space-map page's generation and checksum before a write.
func sealSMPage(buf []byte, p, gen uint64) {
	binary.LittleEndian.PutUint32(buf, smMagic)
	binary.LittleEndian.PutUint64(buf[8:], p)
	binary.LittleEndian.PutUint64(buf[16:], gen)
	binary.LittleEndian.PutUint64(buf[24:], 0)
	binary.LittleEndian.PutUint32(buf[4:], meta.Checksum(buf[8:]))
}
