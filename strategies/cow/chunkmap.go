package cow

// chunkMap is an exception table in memory: an open-addressing hash table
// (linear probing) from a base chunk index to a 32-bit value, packed into one
// uint64 per bucket as (chunk+1)<<32 | value, 0 marking an empty bucket.
// Entries are only added or updated, never removed (a delta is freed as a
// whole), so there are no tombstones.
//
// Memory: 8 bytes per bucket, with the load kept between 3/8 and 3/4, so
// 11 to 21 bytes per exception; nothing for a delta without exceptions.
// Lookups and inserts are O(1) expected. Not safe for concurrent use: the
// owning delta's mutex guards it.
type chunkMap struct {
	buckets []uint64
	n       int
	shift   uint // 64 - log2(len(buckets))
}

// maxChunks bounds chunk indexes (and delta slots) so that chunk+1 and a
// slot with the notDurable flag both fit 32 bits.
const maxChunks = 1<<31 - 1

func (m *chunkMap) home(c uint32) int {
	return int((uint64(c) * 0x9E3779B97F4A7C15) >> m.shift)
}

// get returns the value stored for chunk c.
func (m *chunkMap) get(c uint32) (uint32, bool) {
	if m.n == 0 {
		return 0, false
	}
	mask := len(m.buckets) - 1
	key := uint64(c) + 1
	for i := m.home(c); ; i = (i + 1) & mask {
		b := m.buckets[i]
		if b == 0 {
			return 0, false
		}
		if b>>32 == key {
			return uint32(b), true
		}
	}
}

// put stores v for chunk c, replacing any previous value.
func (m *chunkMap) put(c uint32, v uint32) {
	if (m.n+1)*4 > len(m.buckets)*3 {
		m.grow()
	}
	mask := len(m.buckets) - 1
	key := uint64(c) + 1
	for i := m.home(c); ; i = (i + 1) & mask {
		b := m.buckets[i]
		if b == 0 {
			m.buckets[i] = key<<32 | uint64(v)
			m.n++
			return
		}
		if b>>32 == key {
			m.buckets[i] = key<<32 | uint64(v)
			return
		}
	}
}

func (m *chunkMap) grow() {
	old := m.buckets
	size := max(16, 2*len(old))
	m.buckets = make([]uint64, size)
	m.shift = 64
	for s := size; s > 1; s >>= 1 {
		m.shift--
	}
	mask := size - 1
	for _, b := range old {
		if b == 0 {
			continue
		}
		i := m.home(uint32(b>>32 - 1))
		for m.buckets[i] != 0 {
			i = (i + 1) & mask
		}
		m.buckets[i] = b
	}
}

// each calls fn for every entry, in bucket order.
func (m *chunkMap) each(fn func(c, v uint32)) {
	for _, b := range m.buckets {
		if b != 0 {
			fn(uint32(b>>32-1), uint32(b))
		}
	}
}

// len is the number of entries.
func (m *chunkMap) len() int { return m.n }

// bytes is the memory held by the table.
func (m *chunkMap) bytes() int64 { return int64(cap(m.buckets)) * 8 }

// reset drops every entry and releases the memory.
func (m *chunkMap) reset() { *m = chunkMap{} }
