package device

import (
	"fmt"
	"sync/atomic"
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
	Errors       int64 `json:"errors"`
}

// Sub returns c - o, the counts of an interval.
func (c Counters) Sub(o Counters) Counters {
	return Counters{
		Reads: c.Reads - o.Reads, Writes: c.Writes - o.Writes,
		ReadBytes: c.ReadBytes - o.ReadBytes, WriteBytes: c.WriteBytes - o.WriteBytes,
		Flushes: c.Flushes - o.Flushes, Discards: c.Discards - o.Discards,
		DiscardBytes: c.DiscardBytes - o.DiscardBytes, Errors: c.Errors - o.Errors,
	}
}

// Add returns c + o.
func (c Counters) Add(o Counters) Counters {
	return Counters{
		Reads: c.Reads + o.Reads, Writes: c.Writes + o.Writes,
		ReadBytes: c.ReadBytes + o.ReadBytes, WriteBytes: c.WriteBytes + o.WriteBytes,
		Flushes: c.Flushes + o.Flushes, Discards: c.Discards + o.Discards,
		DiscardBytes: c.DiscardBytes + o.DiscardBytes, Errors: c.Errors + o.Errors,
	}
}

func (c Counters) String() string {
	return fmt.Sprintf("reads=%d (%d B) writes=%d (%d B) flushes=%d discards=%d (%d B) errors=%d",
		c.Reads, c.ReadBytes, c.Writes, c.WriteBytes, c.Flushes, c.Discards, c.DiscardBytes, c.Errors)
}

// Counting wraps a device and counts every operation that reaches it. Counts
// are exact: an operation is counted once when it returns, successful or not
// (failures also count in Errors; bytes count only on success). It is safe for
// concurrent use and adds two atomic adds per operation.
type Counting struct {
	inner                           Device
	reads, writes, rbytes, wbytes   atomic.Int64
	flushes, discards, dbytes, errs atomic.Int64
}

// NewCounting wraps inner.
func NewCounting(inner Device) *Counting { return &Counting{inner: inner} }

// Counters returns a snapshot of the counts.
func (c *Counting) Counters() Counters {
	return Counters{
		Reads: c.reads.Load(), Writes: c.writes.Load(),
		ReadBytes: c.rbytes.Load(), WriteBytes: c.wbytes.Load(),
		Flushes: c.flushes.Load(), Discards: c.discards.Load(),
		DiscardBytes: c.dbytes.Load(), Errors: c.errs.Load(),
	}
}

func (c *Counting) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.inner.ReadAt(p, off)
	c.reads.Add(1)
	if err != nil {
		c.errs.Add(1)
	} else {
		c.rbytes.Add(int64(n))
	}
	return n, err
}

func (c *Counting) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.inner.WriteAt(p, off)
	c.writes.Add(1)
	if err != nil {
		c.errs.Add(1)
	} else {
		c.wbytes.Add(int64(n))
	}
	return n, err
}

func (c *Counting) Flush() error {
	err := c.inner.Flush()
	c.flushes.Add(1)
	if err != nil {
		c.errs.Add(1)
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
	c.discards.Add(1)
	if err != nil {
		c.errs.Add(1)
	} else {
		c.dbytes.Add(n)
	}
	return err
}

func (c *Counting) Size() int64     { return c.inner.Size() }
func (c *Counting) SectorSize() int { return c.inner.SectorSize() }
func (c *Counting) Close() error    { return c.inner.Close() }
func (c *Counting) Unwrap() Device  { return c.inner }
