package nbd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// ServerOptions configures a Server. Zero values choose the defaults.
type ServerOptions struct {
	// MaxInFlight bounds the requests of one connection in progress, from
	// when the server reads one until its reply is written to the socket;
	// the server stops reading a connection's requests while it is
	// reached. It also bounds the connection's worker goroutines. Default
	// 32.
	MaxInFlight int
	// MaxInFlightBytes bounds the memory one connection holds: its read
	// buffer, the payloads and data of its requests in progress, and their
	// replies until they are written to the socket. When it is reached the
	// server stops reading the connection's requests until replies have
	// been written (a client that does not read its replies is not read
	// either); it never errors or allocates past it. Default 128 MiB; at
	// least MinInFlightBytes (smaller values are raised to it). There is
	// no bound across connections: n connections hold at most n times this.
	MaxInFlightBytes int64
	// HandshakeTimeout bounds option haggling: a client that has not
	// chosen an export by then is disconnected. Default 30 s.
	HandshakeTimeout time.Duration
	// Logf, when set, receives one line per connection that ends with an
	// error (protocol violations, IO errors on the socket).
	Logf func(format string, args ...any)
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("nbd: server closed")

// Server serves a fixed set of exports over the NBD protocol: fixed
// newstyle handshake with NBD_OPT_EXPORT_NAME, LIST, INFO, GO and ABORT
// (other options are refused with NBD_REP_ERR_UNSUP, structured replies
// included), then simple replies to READ, WRITE (with FUA), FLUSH, TRIM,
// WRITE_ZEROES and DISC. Each connection has up to MaxInFlight requests in
// progress at once, replies are sent as requests complete (not in order),
// and any number of connections may use the same export: all share its
// device, so a FLUSH on one covers writes completed on all
// (NBD_FLAG_CAN_MULTI_CONN).
//
// Requests need not be aligned: see export for the read-modify-write.
// Requests longer than MaxRequest, out of range or with unknown flags get
// an error reply without the server allocating memory for them.
//
// A Server is safe for concurrent use.
type Server struct {
	exports []*export
	opts    ServerOptions

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup // one per tracked connection
}

// NewServer returns a server of exports; names must be unique.
func NewServer(exports []Export, opts ServerOptions) (*Server, error) {
	if len(exports) == 0 {
		return nil, errors.New("nbd: no exports")
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 32
	}
	if opts.MaxInFlightBytes <= 0 {
		opts.MaxInFlightBytes = 128 << 20
	}
	opts.MaxInFlightBytes = max(opts.MaxInFlightBytes, MinInFlightBytes)
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	s := &Server{opts: opts, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	seen := map[string]bool{}
	for _, x := range exports {
		if x.Name == "" || seen[x.Name] {
			return nil, fmt.Errorf("nbd: export name %q empty or used twice", x.Name)
		}
		seen[x.Name] = true
		e, err := newExport(x)
		if err != nil {
			return nil, err
		}
		s.exports = append(s.exports, e)
	}
	return s, nil
}

// lookup returns the export called name; "" is the first export.
func (s *Server) lookup(name string) *export {
	if name == "" {
		return s.exports[0]
	}
	for _, e := range s.exports {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Stats returns the counters of every export by name.
func (s *Server) Stats() map[string]ExportStats {
	out := make(map[string]ExportStats, len(s.exports))
	for _, e := range s.exports {
		out[e.Name] = e.stats()
	}
	return out
}

// Serve accepts connections on l and serves each in its own goroutine until
// Shutdown or Close, then returns ErrServerClosed. It closes l on return.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	backoff := 5 * time.Millisecond
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return err
		}
		backoff = 5 * time.Millisecond
		go s.ServeConn(nc)
	}
}

// ServeConn runs the protocol on one connection until the client
// disconnects, the connection fails, or the server shuts down; it closes
// nc on return.
func (s *Server) ServeConn(nc net.Conn) {
	c := newConn(s, nc, nc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	nc.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	exp, err := c.negotiate()
	if err != nil {
		s.logConn(nc, "handshake", err)
		return
	}
	if exp == nil {
		return // the client aborted
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	c.transmitting = true
	nc.SetDeadline(time.Time{})
	s.mu.Unlock()
	if err := c.transmit(exp); err != nil {
		s.logConn(nc, "export "+exp.Name, err)
	}
}

func (s *Server) logConn(nc net.Conn, what string, err error) {
	if s.opts.Logf == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, errShutdown) {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return // Shutdown interrupted the read
		}
	}
	s.opts.Logf("nbd: client %s: %s: %v", nc.RemoteAddr(), what, err)
}

// Shutdown stops the server gracefully: it closes the listeners and the
// connections still haggling, stops reading new requests, waits for the
// requests in progress to be answered, closes the connections, and flushes
// every export's device. If ctx ends first, the remaining connections are
// closed at once (their requests in progress still finish before Shutdown
// returns) and ctx's error is returned with any flush error. A client's
// write that was being received when Shutdown began is dropped unanswered.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop(false)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		s.stop(true)
		<-done
		errs = append(errs, ctx.Err())
	}
	for _, e := range s.exports {
		if err := e.Device.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("nbd: flush export %q: %w", e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Close closes the listeners and every connection at once, without
// flushing; requests in progress finish in the background.
func (s *Server) Close() error {
	s.stop(true)
	return nil
}

// stop marks the server closing, closes listeners, and interrupts the
// connections: hard closes all of them, else only those still haggling and
// stops the others reading.
func (s *Server) stop(hard bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		if hard || !c.transmitting {
			c.nc.Close()
		} else {
			c.nc.SetReadDeadline(time.Now())
		}
	}
}

// readBufSize is the size of a connection's request read buffer.
const readBufSize = 64 << 10

// newConn prepares a connection reading from r and writing to w; nc (may be
// nil in tests) is what shutdown interrupts.
func newConn(s *Server, nc net.Conn, rw io.ReadWriter) *conn {
	c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(rw, readBufSize), w: rw}
	c.hold(readBufSize)
	c.budget.init(s.opts.MaxInFlight, s.opts.MaxInFlightBytes-readBufSize)
	c.jobs = make(chan job, s.opts.MaxInFlight)
	return c
}
