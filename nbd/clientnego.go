package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

var timeZero time.Time

// errUnsupported: the server refused an option with NBD_REP_ERR_UNSUP.
var errUnsupported = errors.New("nbd: option unsupported by the server")

// handshake runs the client side of the newstyle handshake up to the
// transmission phase.
func (c *Client) handshake(br *bufio.Reader) error {
	hflags, err := clientGreeting(c.nc, br)
	if err != nil {
		return err
	}
	if hflags&flagFixedNewstyle != 0 {
		err := c.optGo(br)
		if !errors.Is(err, errUnsupported) {
			return err
		}
	}
	return c.optExportName(br, hflags&flagNoZeroes != 0)
}

// clientGreeting reads the server's greeting and sends the client flags,
// asking for every handshake feature the server offers. It returns the
// server's handshake flags.
func clientGreeting(w io.Writer, br *bufio.Reader) (hflags uint16, err error) {
	var g [18]byte
	if _, err := io.ReadFull(br, g[:16]); err != nil {
		return 0, fmt.Errorf("nbd: read greeting: %w", err)
	}
	if binary.BigEndian.Uint64(g[0:]) != magicInit {
		return 0, fmt.Errorf("%w: not an NBD server", errBadMagic)
	}
	if binary.BigEndian.Uint64(g[8:]) != magicOpt {
		return 0, errors.New("nbd: server speaks the oldstyle handshake, which this client does not")
	}
	if _, err := io.ReadFull(br, g[16:]); err != nil {
		return 0, fmt.Errorf("nbd: read greeting: %w", err)
	}
	hflags = binary.BigEndian.Uint16(g[16:])
	var cflags uint32
	if hflags&flagFixedNewstyle != 0 {
		cflags |= flagCFixedNewstyle
	}
	if hflags&flagNoZeroes != 0 {
		cflags |= flagCNoZeroes
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], cflags)
	if _, err := w.Write(b[:]); err != nil {
		return 0, fmt.Errorf("nbd: send client flags: %w", err)
	}
	return hflags, nil
}

// sendOption sends one option request.
func sendOption(w io.Writer, opt uint32, data []byte) error {
	b := make([]byte, optHeaderLen+len(data))
	binary.BigEndian.PutUint64(b[0:], magicOpt)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], uint32(len(data)))
	copy(b[optHeaderLen:], data)
	_, err := w.Write(b)
	return err
}

// readOptReply reads one option reply to opt; its data is bounded by
// maxOption.
func readOptReply(br *bufio.Reader, opt uint32) (typ uint32, data []byte, err error) {
	var h [optReplyLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, fmt.Errorf("nbd: read option reply: %w", err)
	}
	if binary.BigEndian.Uint64(h[0:]) != magicOptReply {
		return 0, nil, fmt.Errorf("%w: option reply magic", errBadMagic)
	}
	if got := binary.BigEndian.Uint32(h[8:]); got != opt {
		return 0, nil, fmt.Errorf("nbd: reply to option %d while waiting for option %d", got, opt)
	}
	typ = binary.BigEndian.Uint32(h[12:])
	n := binary.BigEndian.Uint32(h[16:])
	if n > maxOption {
		return 0, nil, fmt.Errorf("nbd: option reply of %d bytes", n)
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(br, data); err != nil {
		return 0, nil, fmt.Errorf("nbd: read option reply: %w", err)
	}
	return typ, data, nil
}

// optError turns an error reply into an error.
func optError(what string, typ uint32, data []byte) error {
	msg := ""
	if len(data) > 0 {
		msg = ": " + string(data)
	}
	switch typ {
	case repErrUnsup:
		return fmt.Errorf("%w: %s%s", errUnsupported, what, msg)
	case repErrUnknown:
		return fmt.Errorf("nbd: %s: no such export%s", what, msg)
	case repErrPolicy:
		return fmt.Errorf("nbd: %s: refused by server policy%s", what, msg)
	case repErrBit + 5:
		return fmt.Errorf("nbd: %s: the server requires TLS, which this client does not speak", what)
	case repErrBit + 7:
		return fmt.Errorf("nbd: %s: the server is shutting down", what)
	}
	return fmt.Errorf("nbd: %s: server replied %#x%s", what, typ, msg)
}

// optGo sends NBD_OPT_GO asking for block sizes and reads the replies.
func (c *Client) optGo(br *bufio.Reader) error {
	data := make([]byte, 4+len(c.name)+4)
	binary.BigEndian.PutUint32(data, uint32(len(c.name)))
	copy(data[4:], c.name)
	binary.BigEndian.PutUint16(data[4+len(c.name):], 1)
	binary.BigEndian.PutUint16(data[6+len(c.name):], infoBlockSize)
	if err := sendOption(c.nc, optGo, data); err != nil {
		return fmt.Errorf("nbd: send NBD_OPT_GO: %w", err)
	}
	haveExport := false
	for {
		typ, d, err := readOptReply(br, optGo)
		if err != nil {
			return err
		}
		switch {
		case typ == repAck:
			if !haveExport {
				return errors.New("nbd: server accepted NBD_OPT_GO without describing the export")
			}
			return nil
		case typ == repInfo && len(d) >= 2:
			switch binary.BigEndian.Uint16(d) {
			case infoExport:
				if len(d) != 12 {
					return fmt.Errorf("nbd: NBD_INFO_EXPORT of %d bytes", len(d))
				}
				if err := c.setExport(binary.BigEndian.Uint64(d[2:]), binary.BigEndian.Uint16(d[10:])); err != nil {
					return err
				}
				haveExport = true
			case infoBlockSize:
				if len(d) != 14 {
					return fmt.Errorf("nbd: NBD_INFO_BLOCK_SIZE of %d bytes", len(d))
				}
				c.minBS = binary.BigEndian.Uint32(d[2:])
				c.prefBS = binary.BigEndian.Uint32(d[6:])
				c.maxBS = binary.BigEndian.Uint32(d[10:])
			}
		case typ&repErrBit != 0:
			return optError(fmt.Sprintf("export %q", c.name), typ, d)
		}
	}
}

// optExportName enters transmission the old way (servers without GO).
func (c *Client) optExportName(br *bufio.Reader, noZeroes bool) error {
	if err := sendOption(c.nc, optExportName, []byte(c.name)); err != nil {
		return fmt.Errorf("nbd: send NBD_OPT_EXPORT_NAME: %w", err)
	}
	var b [10]byte
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return fmt.Errorf("nbd: export %q: server closed the connection (no such export?): %w", c.name, err)
	}
	if !noZeroes { // the server sends 124 reserved zero bytes
		if err := skip(br, 124); err != nil {
			return fmt.Errorf("nbd: export %q: %w", c.name, err)
		}
	}
	return c.setExport(binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint16(b[8:]))
}

func (c *Client) setExport(size uint64, flags uint16) error {
	if size > 1<<62 {
		return fmt.Errorf("nbd: export size %d", size)
	}
	if flags&flagHasFlags == 0 {
		flags = flagHasFlags // no flags at all: nothing optional offered
	}
	c.size, c.flags = int64(size), flags
	return nil
}

// ExportEntry is one export a server lists.
type ExportEntry struct {
	Name        string
	Description string
}

// List asks the server at address for its exports (NBD_OPT_LIST), then
// aborts the handshake.
func List(ctx context.Context, network, address string) ([]ExportEntry, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	br := bufio.NewReader(nc)
	hflags, err := clientGreeting(nc, br)
	if err != nil {
		return nil, err
	}
	if hflags&flagFixedNewstyle == 0 {
		return nil, errors.New("nbd: server does not speak fixed newstyle; it cannot list exports")
	}
	if err := sendOption(nc, optList, nil); err != nil {
		return nil, fmt.Errorf("nbd: send NBD_OPT_LIST: %w", err)
	}
	var out []ExportEntry
	for {
		typ, data, err := readOptReply(br, optList)
		if err != nil {
			return nil, err
		}
		switch {
		case typ == repAck:
			sendOption(nc, optAbort, nil)
			return out, nil
		case typ == repServer:
			if len(data) < 4 || uint64(binary.BigEndian.Uint32(data)) > uint64(len(data)-4) {
				return nil, errors.New("nbd: malformed NBD_REP_SERVER")
			}
			n := binary.BigEndian.Uint32(data)
			out = append(out, ExportEntry{Name: string(data[4 : 4+n]), Description: string(data[4+n:])})
		case typ&repErrBit != 0:
			return nil, optError("list exports", typ, data)
		}
	}
}
