package nbd

import (
	"bufio"
	"io"
	"net"
	"sync"

	"github.com/snapbench/snapbench/device"
)

// conn is one client connection. One goroutine (the reader) reads requests
// in order; each request with work to do runs in its own goroutine, bounded
// by gate, and queues its reply when done. Replies are written by whichever
// request goroutine finds no writer active: it writes every queued reply in
// one writev, and again until the queue is empty (flat combining), so
// replies that complete together cost one system call.
type conn struct {
	s            *Server
	nc           net.Conn // nil in tests that drive a conn over plain readers
	br           *bufio.Reader
	w            io.Writer
	transmitting bool // guarded by s.mu

	gate gate

	wmu     sync.Mutex
	pending []queuedReply // replies waiting for the writer
	spare   []queuedReply // the writer's last batch, reused
	bufs    net.Buffers   // the writer's iovecs, reused
	writing bool          // a goroutine is writing replies
	werr    error         // sticky: once a reply failed, the connection is dead
}

// queuedReply is a reply waiting to be written; release (may be nil) runs
// once its data has been written or dropped.
type queuedReply struct {
	hdr     [simpleReplyLen]byte
	data    []byte
	release func()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// transmit serves requests until the client disconnects or the stream
// breaks, then waits for the requests in progress to be answered. A clean
// NBD_CMD_DISC or end of stream returns nil.
func (c *conn) transmit(e *export) error {
	defer c.gate.drain()
	var hdr [requestLen]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		r, err := parseRequest(hdr[:])
		if err != nil {
			return err
		}
		if r.typ == cmdDisc {
			return nil
		}
		if err := c.handle(e, r); err != nil {
			return err
		}
	}
}

// handle validates one request and starts it. It returns an error only when
// the stream itself failed (a write payload could not be read).
func (c *conn) handle(e *export, r request) error {
	off, n := int64(r.offset), int64(r.length)
	fua := r.flags&cmdFlagFUA != 0
	allowed := uint16(cmdFlagFUA)
	if r.typ == cmdWriteZeroes {
		allowed |= cmdFlagNoHole
	}
	var errno uint32
	switch {
	case r.typ > cmdWriteZeroes || r.typ == 5 || r.flags&^allowed != 0:
		errno = errInval // unknown command (CACHE included) or flag
	case e.ReadOnly && (r.typ == cmdWrite || r.typ == cmdTrim || r.typ == cmdWriteZeroes):
		errno = errPerm
	case (r.typ == cmdRead || r.typ == cmdWrite) && n > MaxRequest:
		errno = errInval
	case r.typ == cmdFlush:
	case !e.inRange(r.offset, r.length):
		errno = errInval
		if r.typ != cmdRead {
			errno = errNoSpc
		}
	}
	if errno != 0 {
		e.errs.Add(1)
		if r.typ == cmdWrite {
			if err := skip(c.br, n); err != nil {
				return err
			}
		}
		c.reply(r.handle, errno, nil, nil)
		return nil
	}
	switch r.typ {
	case cmdRead:
		c.gate.acquire(n)
		go c.doRead(e, r.handle, off, n)
	case cmdWrite:
		c.gate.acquire(n)
		buf, payload := e.writeBuffer(off, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			device.PutBuffer(buf)
			c.gate.release(n)
			return err
		}
		go c.doWrite(e, r.handle, buf, off, n, fua)
	default: // flush, trim, write zeroes: no payload either way
		c.gate.acquire(0)
		go c.doOther(e, r.typ, r.handle, off, n, fua)
	}
	return nil
}

func (c *conn) doRead(e *export, handle uint64, off, n int64) {
	defer c.gate.release(n)
	buf, data, err := e.read(off, n)
	e.reads.Add(1)
	if err != nil {
		e.errs.Add(1)
		c.reply(handle, errnoOf(err), nil, nil)
		device.PutBuffer(buf)
		return
	}
	e.rbytes.Add(n)
	c.reply(handle, 0, data, func() { device.PutBuffer(buf) })
}

func (c *conn) doWrite(e *export, handle uint64, buf []byte, off, n int64, fua bool) {
	defer c.gate.release(n)
	err := e.write(buf, off, n, fua)
	device.PutBuffer(buf)
	e.writes.Add(1)
	if err != nil {
		e.errs.Add(1)
	} else {
		e.wbytes.Add(n)
	}
	c.reply(handle, errnoOf(err), nil, nil)
}

func (c *conn) doOther(e *export, typ uint16, handle uint64, off, n int64, fua bool) {
	defer c.gate.release(0)
	var err error
	switch typ {
	case cmdFlush:
		e.flushes.Add(1)
		err = e.Device.Flush()
	case cmdTrim:
		e.trims.Add(1)
		err = e.trim(off, n, fua)
	case cmdWriteZeroes:
		e.zeroes.Add(1)
		err = e.writeZeroes(off, n, fua)
	}
	if err != nil {
		e.errs.Add(1)
	}
	c.reply(handle, errnoOf(err), nil, nil)
}

// reply queues a simple reply, with data when errno is 0, and writes the
// queue unless another goroutine is writing it. release runs once data is
// written (or dropped because the connection died); the caller must not
// touch data before. When writing fails the connection is closed, which
// stops the reader.
func (c *conn) reply(handle uint64, errno uint32, data []byte, release func()) {
	if errno != 0 {
		data = nil
	}
	q := queuedReply{data: data, release: release}
	putSimpleReply(q.hdr[:], errno, handle)
	c.wmu.Lock()
	if c.werr != nil {
		c.wmu.Unlock()
		q.done()
		return
	}
	c.pending = append(c.pending, q)
	if c.writing {
		c.wmu.Unlock()
		return
	}
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
			batch[i].done()
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
		dropped[i].done()
	}
}

func (q *queuedReply) done() {
	if q.release != nil {
		q.release()
	}
}

// gate bounds the requests of a connection in progress, by count and by
// bytes. Only the connection's reader acquires, so it is the only waiter.
type gate struct {
	mu       sync.Mutex
	cond     sync.Cond
	n        int
	bytes    int64
	maxN     int
	maxBytes int64
}

func (g *gate) init(maxN int, maxBytes int64) {
	g.cond.L = &g.mu
	g.maxN, g.maxBytes = maxN, maxBytes
}

// acquire waits for room for one more request of b bytes. A request larger
// than the byte budget runs alone.
func (g *gate) acquire(b int64) {
	g.mu.Lock()
	for g.n >= g.maxN || (g.n > 0 && g.bytes+b > g.maxBytes) {
		g.cond.Wait()
	}
	g.n++
	g.bytes += b
	g.mu.Unlock()
}

func (g *gate) release(b int64) {
	g.mu.Lock()
	g.n--
	g.bytes -= b
	g.mu.Unlock()
	g.cond.Broadcast()
}

// drain waits until no request is in progress.
func (g *gate) drain() {
	g.mu.Lock()
	for g.n > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}
