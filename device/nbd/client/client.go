package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/wire"
)

// Client is a connection to one export of an NBD server, used as a
// device.Device: engines and workloads can run on a remote export as on a
// local disk.
//
// Alignment: offsets and lengths must be multiples of SectorSize (the
// server's minimum block size, at least 512); buffers need no particular
// address alignment. IO longer than the server's maximum block size (at
// most wire.MaxRequest) is split into several requests.
//
// Concurrency: ReadAt, WriteAt, Flush, Discard and Zero are safe for
// concurrent use; each call is one or more requests on the single
// connection, identified by handle, so many can be in flight at once and
// the server may answer them in any order.
//
// Durability: as the server provides it. Flush sends NBD_CMD_FLUSH; a
// server that did not offer flush makes Flush a no-op.
//
// Close sends NBD_CMD_DISC and closes the connection; it does not flush.
type Client struct {
	nc     net.Conn
	name   string
	addr   string
	size   int64
	flags  uint16
	minBS  uint32
	prefBS uint32
	maxBS  uint32
	sector int
	maxReq int64

	wmu  sync.Mutex // serialises request writes
	whdr [wire.RequestLen]byte

	mu      sync.Mutex
	pending map[uint64]*call
	next    uint64
	err     error // sticky: set when the connection failed or was closed
	closed  bool
	done    chan struct{} // closed when the reply reader exits
}

type call struct {
	buf   []byte // READ: where the data goes
	errno uint32
	err   error
	done  chan struct{}
}

// Dial connects to the NBD server at address on network ("tcp" or "unix")
// and opens export name ("" for the server's default export). ctx bounds
// the connection and the handshake.
func Dial(ctx context.Context, network, address, name string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// Cancelling ctx interrupts the handshake.
	stopWatch := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, err := NewClient(nc, name)
	if !stopWatch() { // ctx ended: the connection's deadline is in the past
		if err == nil {
			c.Close()
		}
		nc.Close()
		return nil, fmt.Errorf("nbd: %s: %w", address, ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.addr = wire.FormatURI(network, address, name)
	return c, nil
}

// DialURI is Dial for an NBD URI: nbd://HOST[:PORT]/NAME or
// nbd+unix:///NAME?socket=PATH.
func DialURI(ctx context.Context, uri string) (*Client, error) {
	network, address, name, err := wire.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, network, address, name)
}

// NewClient runs the client handshake on an open connection: fixed
// newstyle, NBD_OPT_GO asking for block sizes (NBD_OPT_EXPORT_NAME with
// servers that lack GO), simple replies. Bound the handshake with a
// deadline on nc; NewClient clears it once the handshake succeeds. On error
// nc is left open.
func NewClient(nc net.Conn, name string) (*Client, error) {
	c := &Client{nc: nc, name: name, addr: nc.RemoteAddr().String(), pending: map[uint64]*call{}, done: make(chan struct{})}
	br := bufio.NewReaderSize(nc, 64<<10)
	if err := c.handshake(br); err != nil {
		return nil, err
	}
	c.sector = 512
	if m := int(c.minBS); m > 512 && m <= 64<<10 && m&(m-1) == 0 {
		c.sector = m
	}
	c.maxReq = wire.MaxRequest
	if c.maxBS > 0 && int64(c.maxBS) < c.maxReq {
		c.maxReq = max(int64(c.maxBS)/int64(c.sector)*int64(c.sector), int64(c.sector))
	}
	nc.SetDeadline(timeZero)
	go c.readLoop(br)
	return c, nil
}

// readLoop reads replies and completes the calls they answer.
func (c *Client) readLoop(br *bufio.Reader) {
	defer close(c.done)
	var hdr [wire.SimpleReplyLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			c.fail(err)
			return
		}
		switch m := binary.BigEndian.Uint32(hdr[0:]); m {
		case wire.MagicSimpleReply:
		case wire.MagicStructReply:
			c.fail(errors.New("nbd: server sent a structured reply, which was not negotiated"))
			return
		default:
			c.fail(fmt.Errorf("%w: reply magic %#08x", wire.ErrBadMagic, m))
			return
		}
		errno := binary.BigEndian.Uint32(hdr[4:])
		handle := binary.BigEndian.Uint64(hdr[8:])
		c.mu.Lock()
		cl := c.pending[handle]
		delete(c.pending, handle)
		c.mu.Unlock()
		if cl == nil {
			c.fail(fmt.Errorf("nbd: reply for unknown handle %d", handle))
			return
		}
		if errno == 0 && cl.buf != nil {
			if _, err := io.ReadFull(br, cl.buf); err != nil {
				cl.err = err
				close(cl.done)
				c.fail(err)
				return
			}
		}
		cl.errno = errno
		close(cl.done)
	}
}

// fail makes err the connection's sticky error, completes every pending
// call with it and closes the connection.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		if !errors.Is(err, device.ErrClosed) {
			err = fmt.Errorf("nbd: connection to %s lost: %w", c.addr, err)
		}
		c.err = err
	}
	pending := c.pending
	c.pending = map[uint64]*call{}
	c.mu.Unlock()
	for _, cl := range pending {
		cl.err = c.err
		close(cl.done)
	}
	c.nc.Close()
}

// Request sends one request exactly as given and waits for its reply: cmd
// and flags are the protocol's (wire.CmdRead, wire.CmdFlagFUA, ...), off
// and n need no alignment and are not checked against the export, data is
// a WRITE payload and rbuf receives READ data (n bytes each). It is for
// tools and tests that exercise servers; ReadAt, WriteAt and the rest are
// the device interface. Safe for concurrent use.
func (c *Client) Request(cmd, flags uint16, off int64, n uint32, data, rbuf []byte) error {
	return c.do(cmd, flags, off, n, data, rbuf)
}

// do sends one request and waits for its reply. data is a WRITE payload;
// rbuf receives READ data.
func (c *Client) do(typ, flags uint16, off int64, n uint32, data, rbuf []byte) error {
	cl := &call{buf: rbuf, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.next++
	h := c.next
	c.pending[h] = cl
	c.mu.Unlock()

	c.wmu.Lock()
	wire.PutRequest(c.whdr[:], wire.Request{Flags: flags, Type: typ, Handle: h, Offset: uint64(off), Length: n})
	var err error
	if len(data) > 0 {
		bufs := net.Buffers{c.whdr[:], data}
		_, err = bufs.WriteTo(c.nc)
	} else {
		_, err = c.nc.Write(c.whdr[:])
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
	}
	<-cl.done
	if cl.err != nil {
		return cl.err
	}
	if cl.errno != 0 {
		return &Error{Op: wire.CmdName(typ), Off: off, Len: int64(n), Errno: syscall.Errno(cl.errno)}
	}
	return nil
}

// ReadAt reads len(p) bytes at off.
func (c *Client) ReadAt(p []byte, off int64) (int, error) {
	if err := device.CheckIO(p, off, c.sector, 1, c.size); err != nil {
		return 0, err
	}
	for done := int64(0); done < int64(len(p)); {
		k := min(int64(len(p))-done, c.maxReq)
		if err := c.do(wire.CmdRead, 0, off+done, uint32(k), nil, p[done:done+k]); err != nil {
			return int(done), err
		}
		done += k
	}
	return len(p), nil
}

// WriteAt writes p at off.
func (c *Client) WriteAt(p []byte, off int64) (int, error) {
	if err := c.writable(); err != nil {
		return 0, err
	}
	if err := device.CheckIO(p, off, c.sector, 1, c.size); err != nil {
		return 0, err
	}
	for done := int64(0); done < int64(len(p)); {
		k := min(int64(len(p))-done, c.maxReq)
		if err := c.do(wire.CmdWrite, 0, off+done, uint32(k), p[done:done+k], nil); err != nil {
			return int(done), err
		}
		done += k
	}
	return len(p), nil
}

func (c *Client) writable() error {
	if c.flags&wire.FlagReadOnly != 0 {
		return fmt.Errorf("nbd: export %q: %w", c.name, device.ErrReadOnly)
	}
	return nil
}

// Flush asks the server to make every completed write durable.
func (c *Client) Flush() error {
	if c.flags&wire.FlagSendFlush == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	return c.do(wire.CmdFlush, 0, 0, 0, nil, nil)
}

// bigRequest is the longest TRIM or WRITE_ZEROES request sent at once.
const bigRequest = 1 << 30

// Discard sends NBD_CMD_TRIM for the range, in requests of at most 1 GiB.
// Where the server does not offer trim it does nothing, which the
// Discarder contract allows (the range then keeps its data).
func (c *Client) Discard(off, n int64) error {
	if err := device.CheckRange(off, n, c.sector, c.size); err != nil {
		return err
	}
	if c.flags&wire.FlagSendTrim == 0 {
		return nil
	}
	return c.ranged(wire.CmdTrim, off, n)
}

// Zero makes the range read as zeros: NBD_CMD_WRITE_ZEROES where the
// server offers it, else writes of zeros.
func (c *Client) Zero(off, n int64) error {
	if err := c.writable(); err != nil {
		return err
	}
	if err := device.CheckRange(off, n, c.sector, c.size); err != nil {
		return err
	}
	if c.flags&wire.FlagSendWriteZeroes != 0 {
		return c.ranged(wire.CmdWriteZeroes, off, n)
	}
	buf := make([]byte, min(n, 1<<20))
	for done := int64(0); done < n; {
		k := min(n-done, int64(len(buf)))
		if _, err := c.WriteAt(buf[:k], off+done); err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (c *Client) ranged(typ uint16, off, n int64) error {
	step := int64(bigRequest) / int64(c.sector) * int64(c.sector)
	for done := int64(0); done < n; {
		k := min(n-done, step)
		if err := c.do(typ, 0, off+done, uint32(k), nil, nil); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// Size is the export size in bytes.
func (c *Client) Size() int64 { return c.size }

// SectorSize is the alignment IO must have: the server's minimum block
// size, or 512 when it advertised less or nothing.
func (c *Client) SectorSize() int { return c.sector }

// Name is the export name.
func (c *Client) Name() string { return c.name }

// ReadOnly reports whether the server exported the device read-only.
func (c *Client) ReadOnly() bool { return c.flags&wire.FlagReadOnly != 0 }

// BlockSizes returns the minimum, preferred and maximum block sizes the
// server advertised (zeros when it did not).
func (c *Client) BlockSizes() (minimum, preferred, maximum uint32) {
	return c.minBS, c.prefBS, c.maxBS
}

// Info describes the export for result files.
func (c *Client) Info() device.Info {
	phys := c.sector
	if p := int(c.prefBS); p > phys && p <= 64<<10 {
		phys = p
	}
	return device.Info{Path: c.addr, Kind: device.Kind("nbd"), Size: c.size, LogicalSector: c.sector,
		PhysicalSector: phys, MemAlign: 1, Rotational: c.flags&wire.FlagRotational != 0,
		Discard: c.flags&wire.FlagSendTrim != 0}
}

// Close sends NBD_CMD_DISC and closes the connection. Calls still in flight
// fail. It does not flush.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("nbd: %w", device.ErrClosed)
	}
	c.closed = true
	alive := c.err == nil
	c.mu.Unlock()
	if alive {
		c.wmu.Lock()
		wire.PutRequest(c.whdr[:], wire.Request{Type: wire.CmdDisc})
		c.nc.Write(c.whdr[:])
		c.wmu.Unlock()
	}
	c.fail(fmt.Errorf("nbd: %w", device.ErrClosed))
	<-c.done
	return nil
}

// Error is an error value a server returned for a request.
type Error struct {
	Op    string // "read", "write", "flush", "trim", "write-zeroes"
	Off   int64
	Len   int64
	Errno syscall.Errno
}

func (e *Error) Error() string {
	return fmt.Sprintf("nbd: %s %d+%d: server replied %s (%s)", e.Op, e.Off, e.Len, wire.ErrnoName(e.Errno), e.Errno.Error())
}

// Unwrap lets errors.Is match the errno (syscall.EIO, syscall.ENOSPC, ...)
// and the device sentinels that correspond to it (ErrReadOnly, ErrNoSpace).
func (e *Error) Unwrap() []error {
	errs := []error{e.Errno}
	switch e.Errno {
	case wire.ErrnoPerm:
		errs = append(errs, device.ErrReadOnly)
	case wire.ErrnoNoSpc:
		errs = append(errs, device.ErrNoSpace)
	}
	return errs
}
