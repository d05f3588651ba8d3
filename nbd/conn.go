package nbd

import (
	"bufio"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapbench/snapbench/device"
)

// conn is one client connection. One goroutine (the reader) reads requests
// in order. A request with work to do is served by the reader itself when
// the device answers such requests within a few microseconds or nothing
// else is in flight (see dispatch), else by one of the connection's workers
// (at most MaxInFlight, started on demand and kept, bounded by budget);
// either queues its reply when done. Replies are written by whichever
// goroutine finds no writer active: it writes every queued reply in one
// writev, and again until the queue is empty (flat combining), so replies
// that complete together cost one system call.
//
// Memory: every request holds a reservation in budget from before the
// reader allocates anything for it until its reply has been written to the
// socket (or dropped with the connection): its payload or data buffer and
// its place in the reply queue. The reader waits for room before reading
// the next request's payload, so a client that does not read its replies
// stops being read (backpressure) and the connection never holds more than
// MaxInFlightBytes.
type conn struct {
	s            *Server
	nc           net.Conn // nil in tests that drive a conn over plain readers
	br           *bufio.Reader
	w            io.Writer
	transmitting bool // guarded by s.mu

	budget budget

	jobs    chan job // requests for the workers; only the reader sends
	workers int      // workers started; only the reader touches it
	idle    atomic.Int32

	wmu     sync.Mutex
	pending []queuedReply // replies waiting for the writer
	spare   []queuedReply // the writer's last batch, reused
	bufs    net.Buffers   // the writer's iovecs, reused
	writing bool          // a goroutine is writing replies
	werr    error         // sticky: once a reply failed, the connection is dead

	// held is the memory the connection holds for its requests, as
	// allocated: its read buffer, every request or reply buffer (capacity
	// plus the alignment slack of device.Alloc) from allocation until it is
	// returned, and replyCost per queued reply; peak is its high-water mark.
	// The budget's reservations always cover it.
	held, peak atomic.Int64

	// Test hooks: requests being served (read, not yet answered) and
	// replies queued since the connection began.
	inService, answered atomic.Int64
}

// job is one admitted request with device work to do.
type job struct {
	e      *export
	typ    uint16
	fua    bool
	handle uint64
	off, n int64
	buf    []byte // WRITE: the payload, in its aligned buffer
	cost   int64
}

// queuedReply is a reply waiting to be written. buf (may be nil) is the
// buffer data lies in, returned once the reply is written or dropped; cost
// is the reservation released then.
type queuedReply struct {
	hdr  [wire.SimpleReplyLen]byte
	data []byte
	buf  []byte
	cost int64
}

// replyCost is what a request reserves for its reply besides the data: the
// queue entry and its iovecs, with room for the slices' growth.
const replyCost = 256

// zeroCost is what a write-zeroes reserves for the buffers it may use:
// device.Zero's 1 MiB of zeros on a device without a Zeroer, then one
// sector at a time for the partial edges.
const zeroCost = 1<<20 + device.BufferAlign

// maxSectorCost is what the read-modify-write of a partial sector may use
// (sectors are at most 64 KiB).
const maxSectorCost = 64<<10 + device.BufferAlign

// bufferCost is the memory device.GetBuffer(n) holds: the power-of-two
// size class of its pool (512 B to 16 MiB) or exactly n beyond, plus the
// alignment slack device.Alloc adds.
func bufferCost(n int64) int64 {
	c := int64(512)
	for c < n {
		c <<= 1
	}
	if c > 16<<20 {
		c = n
	}
	return c + device.BufferAlign
}

// MaxRequest is the largest READ or WRITE the server accepts and
// advertises as its maximum block size: 32 MiB. Larger requests get EINVAL
// without the server allocating anything for them.
const MaxRequest = wire.MaxRequest

// MinInFlightBytes is the smallest MaxInFlightBytes: room for the read
// buffer and one request of MaxRequest bytes, widened to whole sectors,
// with a read-modify-write and its reply. Smaller values are raised to it.
const MinInFlightBytes = readBufSize + MaxRequest + 2*64<<10 + device.BufferAlign + maxSectorCost + replyCost

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// transmit serves requests until the client disconnects or the stream
// breaks, then waits for the requests in progress to be answered. A clean
// NBD_CMD_DISC or end of stream returns nil.
func (c *conn) transmit(e *export) error {
	defer func() {
		close(c.jobs) // the workers finish what is queued and exit
		c.flushReplies()
		c.budget.drain()
	}()
	var hdr [wire.RequestLen]byte
	for {
		if c.br.Buffered() < wire.RequestLen {
			c.flushReplies() // the read may wait: send what is ready
		}
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		r, err := wire.ParseRequest(hdr[:])
		if err != nil {
			return err
		}
		if r.Type == wire.CmdDisc {
			return nil
		}
		if err := c.handle(e, r); err != nil {
			return err
		}
	}
}

// handle validates one request and starts it. It returns an error only when
// the stream itself failed (a write payload could not be read).
func (c *conn) handle(e *export, r wire.Request) error {
	off, n := int64(r.Offset), int64(r.Length)
	fua := r.Flags&wire.CmdFlagFUA != 0
	allowed := uint16(wire.CmdFlagFUA)
	if r.Type == wire.CmdWriteZeroes {
		allowed |= wire.CmdFlagNoHole
	}
	var errno uint32
	switch {
	case r.Type > wire.CmdWriteZeroes || r.Type == 5 || r.Flags&^allowed != 0:
		errno = wire.ErrnoInval // unknown command (CACHE included) or flag
	case e.ReadOnly && (r.Type == wire.CmdWrite || r.Type == wire.CmdTrim || r.Type == wire.CmdWriteZeroes):
		errno = wire.ErrnoPerm
	case (r.Type == wire.CmdRead || r.Type == wire.CmdWrite) && n > MaxRequest:
		errno = wire.ErrnoInval
	case r.Type == wire.CmdFlush:
	case !e.inRange(r.Offset, r.Length):
		errno = wire.ErrnoInval
		if r.Type != wire.CmdRead {
			errno = wire.ErrnoNoSpc
		}
	}
	if errno != 0 {
		e.errs.Add(1)
		if r.Type == wire.CmdWrite {
			if c.br.Buffered() < int(n) {
				c.flushReplies() // skipping the payload may wait
			}
			if err := wire.Skip(c.br, n); err != nil {
				return err
			}
		}
		c.acquire(replyCost)
		c.reply(r.Handle, errno, nil, nil, replyCost, true)
		return nil
	}
	switch r.Type {
	case wire.CmdRead:
		a0, a1 := e.span(off, n)
		cost := bufferCost(a1-a0) + replyCost
		c.acquire(cost)
		c.dispatch(job{e: e, typ: wire.CmdRead, handle: r.Handle, off: off, n: n, cost: cost})
	case wire.CmdWrite:
		a0, a1 := e.span(off, n)
		cost := bufferCost(a1-a0) + replyCost
		if off != a0 || off+n != a1 {
			cost += bufferCost(e.sector)
		}
		c.acquire(cost)
		buf := c.getBuffer(a1 - a0)
		if c.br.Buffered() < int(n) {
			c.flushReplies() // reading the payload may wait
		}
		if _, err := io.ReadFull(c.br, buf[off-a0:off-a0+n]); err != nil {
			c.putBuffer(buf)
			c.budget.release(cost)
			return err
		}
		c.dispatch(job{e: e, typ: wire.CmdWrite, fua: fua, handle: r.Handle, off: off, n: n, buf: buf, cost: cost})
	default: // flush, trim, write zeroes: no payload either way
		cost := int64(replyCost)
		if r.Type == wire.CmdWriteZeroes {
			cost += zeroCost
		}
		c.acquire(cost)
		c.dispatch(job{e: e, typ: r.Type, fua: fua, handle: r.Handle, off: off, n: n, cost: cost})
	}
	return nil
}

// acquire reserves cost bytes for a request, first writing the queued
// replies if it must wait for room (their writing is what makes room).
func (c *conn) acquire(cost int64) {
	if !c.budget.tryAcquire(cost) {
		c.flushReplies()
		c.budget.acquire(cost)
	}
}

// dispatch hands an admitted request to a worker, starting one when none
// is idle; at most MaxInFlight workers run, as many requests as the budget
// admits. Workers live as long as the connection, so their stacks grow
// once rather than per request.
func (c *conn) dispatch(j job) {
	if c.inService.Add(1) == 1 && c.br.Buffered() == 0 || j.e.fast(j.typ) {
		// Nothing else to serve or read yet (a client at queue depth
		// 1), or the device answers this kind of request faster than a
		// worker wakes up: serve it here, and leave its reply queued
		// while more requests are buffered (transmit writes the queue
		// before it waits for input), so that replies go out together.
		c.serve(j, true)
		return
	}
	if int(c.idle.Load()) <= len(c.jobs) && c.workers < cap(c.jobs) {
		c.workers++
		go c.worker()
	}
	c.jobs <- j
}

// worker serves requests until the connection's reader stops.
func (c *conn) worker() {
	for {
		c.idle.Add(1)
		j, ok := <-c.jobs
		c.idle.Add(-1)
		if !ok {
			return
		}
		c.serve(j, false)
	}
}

// serve does a request's work and queues its reply; lazy leaves the reply
// queued unless no writer is active and nothing is buffered to read (only
// the reader may pass it).
func (c *conn) serve(j job, lazy bool) {
	switch j.typ {
	case wire.CmdRead:
		c.doRead(j, lazy)
	case wire.CmdWrite:
		c.doWrite(j, lazy)
	default:
		c.doOther(j, lazy)
	}
}

func (c *conn) doRead(j job, lazy bool) {
	e := j.e
	a0, a1 := e.span(j.off, j.n)
	buf := c.getBuffer(a1 - a0)
	t0 := time.Now()
	err := e.readInto(buf, a0)
	e.readLat.observe(time.Since(t0))
	e.reads.Add(1)
	c.inService.Add(-1)
	if err != nil {
		e.errs.Add(1)
		c.putBuffer(buf)
		c.budget.releaseBytes(j.cost - replyCost)
		c.reply(j.handle, errnoOf(err), nil, nil, replyCost, lazy)
		return
	}
	e.rbytes.Add(j.n)
	c.reply(j.handle, 0, buf[j.off-a0:j.off-a0+j.n], buf, j.cost, lazy)
}

func (c *conn) doWrite(j job, lazy bool) {
	e := j.e
	t0 := time.Now()
	err := e.write(j.buf, j.off, j.n, j.fua)
	e.writeLat.observe(time.Since(t0))
	c.putBuffer(j.buf)
	c.budget.releaseBytes(j.cost - replyCost)
	e.writes.Add(1)
	if err != nil {
		e.errs.Add(1)
	} else {
		e.wbytes.Add(j.n)
	}
	c.inService.Add(-1)
	c.reply(j.handle, errnoOf(err), nil, nil, replyCost, lazy)
}

func (c *conn) doOther(j job, lazy bool) {
	e := j.e
	var err error
	switch j.typ {
	case wire.CmdFlush:
		e.flushes.Add(1)
		err = e.Device.Flush()
	case wire.CmdTrim:
		e.trims.Add(1)
		err = e.trim(j.off, j.n, j.fua)
	case wire.CmdWriteZeroes:
		e.zeroes.Add(1)
		err = e.writeZeroes(j.off, j.n, j.fua)
	}
	c.budget.releaseBytes(j.cost - replyCost)
	if err != nil {
		e.errs.Add(1)
	}
	c.inService.Add(-1)
	c.reply(j.handle, errnoOf(err), nil, nil, replyCost, lazy)
}

// reply queues a simple reply, with data when errno is 0, and writes the
// queue unless another goroutine is writing it or lazy is set (the reader
// writes the queue before it waits). Once the reply is written (or dropped
// because the connection died), buf (may be nil) is returned with
// putBuffer and the request's reservation of cost bytes is released; the
// caller must not touch data or buf after calling reply. When writing
// fails the connection is closed, which stops the reader.
func (c *conn) reply(handle uint64, errno uint32, data, buf []byte, cost int64, lazy bool) {
	if errno != 0 {
		data = nil
	}
	q := queuedReply{data: data, buf: buf, cost: cost}
	wire.PutSimpleReply(q.hdr[:], errno, handle)
	c.answered.Add(1)
	c.wmu.Lock()
	if c.werr != nil {
		c.wmu.Unlock()
		c.finish(&q)
		return
	}
	c.pending = append(c.pending, q)
	c.hold(replyCost)
	if c.writing || lazy {
		c.wmu.Unlock()
		return
	}
	c.writeQueued()
}

// flushReplies writes the queued replies unless a writer is at it. The
// reader calls it before anything that may block.
func (c *conn) flushReplies() {
	c.wmu.Lock()
	if c.writing || len(c.pending) == 0 {
		c.wmu.Unlock()
		return
	}
	c.writeQueued()
}

// writeQueued writes the queue until it is empty, as the connection's
// writer. Called with wmu held and no writer active; it unlocks wmu.
func (c *conn) writeQueued() {
	c.writing = true
	for len(c.pending) > 0 && c.werr == nil {
		batch := c.pending
		c.pending = c.spare[:0]
		bufs := c.bufs[:0]
		for i := range batch {
			bufs = append(bufs, batch[i].hdr[:])
			if len(batch[i].data) > 0 {
				bufs = append(bufs, batch[i].data)
			}
		}
		c.wmu.Unlock()
		iov := bufs // WriteTo consumes its receiver
		_, err := iov.WriteTo(c.w)
		for i := range batch {
			c.hold(-replyCost)
			c.finish(&batch[i])
			batch[i] = queuedReply{}
		}
		clear(bufs)
		c.wmu.Lock()
		c.spare, c.bufs = batch[:0], bufs[:0]
		if err != nil {
			c.werr = err
			if c.nc != nil {
				c.nc.Close()
			}
		}
	}
	dropped := c.pending
	if c.werr != nil {
		c.pending = nil
	} else {
		dropped = nil
	}
	c.writing = false
	c.wmu.Unlock()
	for i := range dropped {
		c.hold(-replyCost)
		c.finish(&dropped[i])
	}
}

// finish returns a written or dropped reply's buffer and reservation.
func (c *conn) finish(q *queuedReply) {
	if q.buf != nil {
		c.putBuffer(q.buf)
	}
	c.budget.release(q.cost)
}

// getBuffer returns an aligned buffer of n bytes and counts it as held.
func (c *conn) getBuffer(n int64) []byte {
	buf := device.GetBuffer(int(n))
	c.hold(int64(cap(buf)) + device.BufferAlign)
	return buf
}

// putBuffer returns a buffer from getBuffer.
func (c *conn) putBuffer(buf []byte) {
	c.hold(-int64(cap(buf)) - device.BufferAlign)
	device.PutBuffer(buf)
}

// hold adds delta to the bytes the connection holds and updates its peak.
func (c *conn) hold(delta int64) {
	h := c.held.Add(delta)
	for {
		p := c.peak.Load()
		if h <= p || c.peak.CompareAndSwap(p, h) {
			return
		}
	}
}

// budget bounds what a connection holds for its requests, by count and by
// bytes, from admission until the reply is written. Only the connection's
// reader acquires, so it is the only waiter.
type budget struct {
	mu       sync.Mutex
	cond     sync.Cond
	n        int
	bytes    int64
	maxN     int
	maxBytes int64
	waiting  atomic.Bool // test hook: the reader waits for room
}

func (b *budget) init(maxN int, maxBytes int64) {
	b.cond.L = &b.mu
	b.maxN, b.maxBytes = maxN, maxBytes
}

// acquire waits for room for one more request reserving cost bytes, at
// most maxBytes (MinInFlightBytes guarantees it for every request).
func (b *budget) acquire(cost int64) {
	if cost > b.maxBytes {
		panic("nbd: a request reserves more than the connection's budget")
	}
	b.mu.Lock()
	for b.n >= b.maxN || b.bytes+cost > b.maxBytes {
		b.waiting.Store(true)
		b.cond.Wait()
	}
	b.waiting.Store(false)
	b.n++
	b.bytes += cost
	b.mu.Unlock()
}

// tryAcquire is acquire when there is room at once.
func (b *budget) tryAcquire(cost int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n >= b.maxN || b.bytes+cost > b.maxBytes {
		return false
	}
	b.n++
	b.bytes += cost
	return true
}

// releaseBytes gives back part of a request's reservation it no longer
// needs; the request keeps its place.
func (b *budget) releaseBytes(cost int64) {
	if cost == 0 {
		return
	}
	b.mu.Lock()
	b.bytes -= cost
	b.mu.Unlock()
	b.cond.Broadcast()
}

// release ends a request: its place and the rest of its reservation.
func (b *budget) release(cost int64) {
	b.mu.Lock()
	b.n--
	b.bytes -= cost
	b.mu.Unlock()
	b.cond.Broadcast()
}

// drain waits until no request is in progress.
func (b *budget) drain() {
	b.mu.Lock()
	for b.n > 0 {
		b.cond.Wait()
	}
	b.mu.Unlock()
}
