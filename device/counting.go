package device

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Counters are exact operation counts through a Counting device.
type Counters struct {
	Reads        int64 `json:"reads"`
	Writes       int64 `json:"writes"`
	ReadBytes    int64 `json:"read_bytes"`
	WriteBytes   int64 `json:"write_bytes"`
	Flushes      int64 `json:"flushes"`
	Discards     int64 `json:"discards"`
	DiscardBytes int64 `json:"discard_bytes"`
	Zeroes       int64 `json:"zeroes,omitempty"`     // fast zeroing calls (Zeroer), not writes
	ZeroBytes    int64 `json:"zero_bytes,omitempty"` // bytes made zero by them
	Errors       int64 `json:"errors"`
}

// Sub returns c - o, the counts of an interval.
func (c Counters) Sub(o Counters) Counters {
	return Counters{
		Reads: c.Reads - o.Reads, Writes: c.Writes - o.Writes,
		ReadBytes: c.ReadBytes - o.ReadBytes, WriteBytes: c.WriteBytes - o.WriteBytes,
		Flushes: c.Flushes - o.Flushes, Discards: c.Discards - o.Discards,
		DiscardBytes: c.DiscardBytes - o.DiscardBytes, Errors: c.Errors - o.Errors,
		Zeroes: c.Zeroes - o.Zeroes, ZeroBytes: c.ZeroBytes - o.ZeroBytes,
	}
}

// Add returns c + o.
func (c Counters) Add(o Counters) Counters {
	return Counters{
		Reads: c.Reads + o.Reads, Writes: c.Writes + o.Writes,
		ReadBytes: c.ReadBytes + o.ReadBytes, WriteBytes: c.WriteBytes + o.WriteBytes,
		Flushes: c.Flushes + o.Flushes, Discards: c.Discards + o.Discards,
		DiscardBytes: c.DiscardBytes + o.DiscardBytes, Errors: c.Errors + o.Errors,
		Zeroes: c.Zeroes + o.Zeroes, ZeroBytes: c.ZeroBytes + o.ZeroBytes,
	}
}

func (c Counters) String() string {
	z := ""
	if c.Zeroes != 0 {
		z = fmt.Sprintf(" zeroes=%d (%d B)", c.Zeroes, c.ZeroBytes)
	}
	return fmt.Sprintf("reads=%d (%d B) writes=%d (%d B) flushes=%d discards=%d (%d B)%s errors=%d",
		c.Reads, c.ReadBytes, c.Writes, c.WriteBytes, c.Flushes, c.Discards, c.DiscardBytes, z, c.Errors)
}

// Counting wraps a device and counts every operation that reaches it. Counts
// are exact: an operation is counted once when it returns, successful or not
// (failures also count in Errors; bytes count only on success). Discards and
// fast zeroing (Zeroer) pass through to the inner device and are counted as
// themselves, not as writes; an inner device without zeroing gets zeros
// written, counted as writes.
//
// It is safe for concurrent use. The counts live in cache-line-padded
// shards picked by the caller's buffer address (each worker has its own
// buffer, so workers rarely share a shard): an operation costs two atomic
// adds on a line that no other worker writes. Counters sums the shards, in
// O(shards).
type Counting struct {
	inner  Device
	shards [countShards]countShard
}

const countShards = 64 // a power of two

// countShard is one shard of the counts, alone on its cache lines.
type countShard struct {
	reads, writes, rbytes, wbytes   atomic.Int64
	flushes, discards, dbytes, errs atomic.Int64
	zeroes, zbytes                  atomic.Int64
	_                               [128 - 10*8%128]byte
}

// NewCounting wraps inner.
func NewCounting(inner Device) *Counting { return &Counting{inner: inner} }

// shard picks the shard of an IO on buffer p: buffers are 4 KiB aligned
// (Alloc), so the page number spreads workers over the shards.
func (c *Counting) shard(p []byte) *countShard {
	if len(p) == 0 {
		return &c.shards[0]
	}
	return &c.shards[(uintptr(unsafe.Pointer(&p[0]))>>12)&(countShards-1)]
}

// Counters returns a snapshot of the counts: the sum of the shards. Taken
// while operations run, it may include an operation's count without its
// bytes; once they have returned it is exact.
func (c *Counting) Counters() Counters {
	var t Counters
	for i := range c.shards {
		s := &c.shards[i]
		t.Reads += s.reads.Load()
		t.Writes += s.writes.Load()
		t.ReadBytes += s.rbytes.Load()
		t.WriteBytes += s.wbytes.Load()
		t.Flushes += s.flushes.Load()
		t.Discards += s.discards.Load()
		t.DiscardBytes += s.dbytes.Load()
		t.Zeroes += s.zeroes.Load()
		t.ZeroBytes += s.zbytes.Load()
		t.Errors += s.errs.Load()
	}
	return t
}

func (c *Counting) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.inner.ReadAt(p, off)
	s := c.shard(p)
	s.reads.Add(1)
	if err != nil {
		s.errs.Add(1)
	} else {
		s.rbytes.Add(int64(n))
	}
	return n, err
}

func (c *Counting) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.inner.WriteAt(p, off)
	s := c.shard(p)
	s.writes.Add(1)
	if err != nil {
		s.errs.Add(1)
	} else {
		s.wbytes.Add(int64(n))
	}
	return n, err
}

func (c *Counting) Flush() error {
	err := c.inner.Flush()
	s := &c.shards[0]
	s.flushes.Add(1)
	if err != nil {
		s.errs.Add(1)
	}
	return err
}

// Discard passes through to the inner device when it is a Discarder.
func (c *Counting) Discard(off, n int64) error {
	d, ok := c.inner.(Discarder)
	if !ok {
		return fmt.Errorf("device: %T cannot discard", c.inner)
	}
	err := d.Discard(off, n)
	s := &c.shards[0]
	s.discards.Add(1)
	if err != nil {
		s.errs.Add(1)
	} else {
		s.dbytes.Add(n)
	}
	return err
}

// Zero passes through to the inner device's fast zeroing, counted in Zeroes
// and ZeroBytes. Where the inner device has none, zeros are written through
// c (counted as writes), as Zero does for any device.
func (c *Counting) Zero(off, n int64) error {
	z, ok := c.inner.(Zeroer)
	if !ok {
		return writeZeros(c, off, n)
	}
	err := z.Zero(off, n)
	s := &c.shards[0]
	s.zeroes.Add(1)
	if err != nil {
		s.errs.Add(1)
	} else {
		s.zbytes.Add(n)
	}
	return err
}

func (c *Counting) Size() int64     { return c.inner.Size() }
func (c *Counting) SectorSize() int { return c.inner.SectorSize() }
func (c *Counting) Close() error    { return c.inner.Close() }
func (c *Counting) Unwrap() Device  { return c.inner }
