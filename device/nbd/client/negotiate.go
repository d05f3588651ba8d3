package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/snapbench/snapbench/device/nbd/wire"
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
	hflags, err := wire.ClientGreeting(c.nc, br)
	if err != nil {
		return err
	}
	if hflags&wire.FlagFixedNewstyle != 0 {
		err := c.optGo(br)
		if !errors.Is(err, errUnsupported) {
			return err
		}
	}
	return c.optExportName(br, hflags&wire.FlagNoZeroes != 0)
}

// optError turns an error reply into an error.
func optError(what string, typ uint32, data []byte) error {
	msg := ""
	if len(data) > 0 {
		msg = ": " + string(data)
	}
	switch typ {
	case wire.RepErrUnsup:
		return fmt.Errorf("%w: %s%s", errUnsupported, what, msg)
	case wire.RepErrUnknown:
		return fmt.Errorf("nbd: %s: no such export%s", what, msg)
	case wire.RepErrPolicy:
		return fmt.Errorf("nbd: %s: refused by server policy%s", what, msg)
	case wire.RepErrBit + 5:
		return fmt.Errorf("nbd: %s: the server requires TLS, which this client does not speak", what)
	case wire.RepErrBit + 7:
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
	binary.BigEndian.PutUint16(data[6+len(c.name):], wire.InfoBlockSize)
	if err := wire.SendOption(c.nc, wire.OptGo, data); err != nil {
		return fmt.Errorf("nbd: send NBD_OPT_GO: %w", err)
	}
	haveExport := false
	for {
		typ, d, err := wire.ReadOptReply(br, wire.OptGo)
		if err != nil {
			return err
		}
		switch {
		case typ == wire.RepAck:
			if !haveExport {
				return errors.New("nbd: server accepted NBD_OPT_GO without describing the export")
			}
			return nil
		case typ == wire.RepInfo && len(d) >= 2:
			switch binary.BigEndian.Uint16(d) {
			case wire.InfoExport:
				if len(d) != 12 {
					return fmt.Errorf("nbd: NBD_INFO_EXPORT of %d bytes", len(d))
				}
				if err := c.setExport(binary.BigEndian.Uint64(d[2:]), binary.BigEndian.Uint16(d[10:])); err != nil {
					return err
				}
				haveExport = true
			case wire.InfoBlockSize:
				if len(d) != 14 {
					return fmt.Errorf("nbd: NBD_INFO_BLOCK_SIZE of %d bytes", len(d))
				}
				c.minBS = binary.BigEndian.Uint32(d[2:])
				c.prefBS = binary.BigEndian.Uint32(d[6:])
				c.maxBS = binary.BigEndian.Uint32(d[10:])
			}
		case typ&wire.RepErrBit != 0:
			return optError(fmt.Sprintf("export %q", c.name), typ, d)
		}
	}
}

// optExportName enters transmission the old way (servers without GO).
func (c *Client) optExportName(br *bufio.Reader, noZeroes bool) error {
	if err := wire.SendOption(c.nc, wire.OptExportName, []byte(c.name)); err != nil {
		return fmt.Errorf("nbd: send NBD_OPT_EXPORT_NAME: %w", err)
	}
	var b [10]byte
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return fmt.Errorf("nbd: export %q: server closed the connection (no such export?): %w", c.name, err)
	}
	if !noZeroes { // the server sends 124 reserved zero bytes
		if err := wire.Skip(br, 124); err != nil {
			return fmt.Errorf("nbd: export %q: %w", c.name, err)
		}
	}
	return c.setExport(binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint16(b[8:]))
}

func (c *Client) setExport(size uint64, flags uint16) error {
	if size > 1<<62 {
		return fmt.Errorf("nbd: export size %d", size)
	}
	if flags&wire.FlagHasFlags == 0 {
		flags = wire.FlagHasFlags // no flags at all: nothing optional offered
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
	hflags, err := wire.ClientGreeting(nc, br)
	if err != nil {
		return nil, err
	}
	if hflags&wire.FlagFixedNewstyle == 0 {
		return nil, errors.New("nbd: server does not speak fixed newstyle; it cannot list exports")
	}
	if err := wire.SendOption(nc, wire.OptList, nil); err != nil {
		return nil, fmt.Errorf("nbd: send NBD_OPT_LIST: %w", err)
	}
	var out []ExportEntry
	for {
		typ, data, err := wire.ReadOptReply(br, wire.OptList)
		if err != nil {
			return nil, err
		}
		switch {
		case typ == wire.RepAck:
			wire.SendOption(nc, wire.OptAbort, nil)
			return out, nil
		case typ == wire.RepServer:
			if len(data) < 4 || uint64(binary.BigEndian.Uint32(data)) > uint64(len(data)-4) {
				return nil, errors.New("nbd: malformed NBD_REP_SERVER")
			}
			n := binary.BigEndian.Uint32(data)
			out = append(out, ExportEntry{Name: string(data[4 : 4+n]), Description: string(data[4+n:])})
		case typ&wire.RepErrBit != 0:
			return nil, optError("list exports", typ, data)
		}
	}
}
