package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"io"
)

// errShutdown: the server is shutting down (not worth logging).
var errShutdown = errors.New("nbd: server shutting down")

// negotiate runs the server side of the fixed newstyle handshake. It
// returns the export the client chose, or nil without error when the client
// aborted. Option data is read into memory only up to maxOption bytes;
// longer options are skipped and refused, so hostile input cannot make it
// allocate more.
func (c *conn) negotiate() (*export, error) {
	var greet [18]byte
	binary.BigEndian.PutUint64(greet[0:], wire.MagicInit)
	binary.BigEndian.PutUint64(greet[8:], wire.MagicOpt)
	binary.BigEndian.PutUint16(greet[16:], wire.FlagFixedNewstyle|wire.FlagNoZeroes)
	if _, err := c.w.Write(greet[:]); err != nil {
		return nil, err
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.br, cf[:]); err != nil {
		return nil, err
	}
	cflags := binary.BigEndian.Uint32(cf[:])
	if cflags&^(wire.FlagCFixedNewstyle|wire.FlagCNoZeroes) != 0 {
		return nil, fmt.Errorf("nbd: unknown client flags %#x", cflags)
	}
	noZeroes := cflags&wire.FlagCNoZeroes != 0
	var hdr [wire.OptHeaderLen]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		if m := binary.BigEndian.Uint64(hdr[0:]); m != wire.MagicOpt {
			return nil, fmt.Errorf("%w: option magic %#x", wire.ErrBadMagic, m)
		}
		opt := binary.BigEndian.Uint32(hdr[8:])
		n := binary.BigEndian.Uint32(hdr[12:])
		if n > wire.MaxOption {
			if err := wire.Skip(c.br, int64(n)); err != nil {
				return nil, err
			}
			if opt == wire.OptExportName {
				return nil, fmt.Errorf("nbd: export name of %d bytes", n)
			}
			if err := c.optReply(opt, wire.RepErrTooBig, []byte("option data too long")); err != nil {
				return nil, err
			}
			continue
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return nil, err
		}
		exp, done, err := c.option(opt, data, noZeroes)
		if err != nil || done {
			return exp, err
		}
	}
}

// option answers one option. done is true when haggling is over: a chosen
// export (transmission follows) or an abort (exp nil).
func (c *conn) option(opt uint32, data []byte, noZeroes bool) (exp *export, done bool, err error) {
	if c.s.isClosing() && opt != wire.OptAbort {
		// NBD_REP_ERR_SHUTDOWN, then hang up: the client must go.
		c.optReply(opt, wire.RepErrBit+7, nil)
		return nil, true, errShutdown
	}
	switch opt {
	case wire.OptExportName:
		e := c.s.lookup(string(data))
		if e == nil {
			return nil, true, fmt.Errorf("nbd: client asked for unknown export %q", data)
		}
		var b [10 + 124]byte
		binary.BigEndian.PutUint64(b[0:], uint64(e.size))
		binary.BigEndian.PutUint16(b[8:], e.flags)
		out := b[:]
		if noZeroes {
			out = b[:10]
		}
		if _, err := c.w.Write(out); err != nil {
			return nil, true, err
		}
		return e, true, nil
	case wire.OptAbort:
		c.optReply(opt, wire.RepAck, nil) // the client may already be gone
		return nil, true, nil
	case wire.OptList:
		if len(data) != 0 {
			return nil, false, c.optReply(opt, wire.RepErrInvalid, []byte("NBD_OPT_LIST takes no data"))
		}
		for _, e := range c.s.exports {
			b := make([]byte, 4, 4+len(e.Name)+len(e.Description))
			binary.BigEndian.PutUint32(b, uint32(len(e.Name)))
			b = append(append(b, e.Name...), e.Description...)
			if err := c.optReply(opt, wire.RepServer, b); err != nil {
				return nil, true, err
			}
		}
		return nil, false, c.optReply(opt, wire.RepAck, nil)
	case wire.OptInfo, wire.OptGo:
		e, err := c.info(opt, data)
		if err != nil || e == nil || opt == wire.OptInfo {
			return nil, false, err
		}
		return e, true, nil
	}
	// STARTTLS, STRUCTURED_REPLY, metadata contexts, extended headers and
	// anything newer: not supported.
	return nil, false, c.optReply(opt, wire.RepErrUnsup, nil)
}

// info answers NBD_OPT_INFO or NBD_OPT_GO. It returns the export when the
// reply ended in NBD_REP_ACK.
func (c *conn) info(opt uint32, data []byte) (*export, error) {
	if len(data) < 6 {
		return nil, c.optReply(opt, wire.RepErrInvalid, []byte("option data too short"))
	}
	nameLen := binary.BigEndian.Uint32(data)
	if uint64(nameLen) > uint64(len(data)-6) {
		return nil, c.optReply(opt, wire.RepErrInvalid, []byte("name length past the option data"))
	}
	name := string(data[4 : 4+nameLen])
	rest := data[4+nameLen:]
	nreq := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+2*nreq {
		return nil, c.optReply(opt, wire.RepErrInvalid, []byte("information request count does not match the option length"))
	}
	wantName, wantDesc := false, false
	for i := 0; i < nreq; i++ {
		switch binary.BigEndian.Uint16(rest[2+2*i:]) {
		case wire.InfoName:
			wantName = true
		case wire.InfoDescription:
			wantDesc = true
		}
	}
	e := c.s.lookup(name)
	if e == nil {
		return nil, c.optReply(opt, wire.RepErrUnknown, []byte("no export named "+fmt.Sprintf("%q", name)))
	}
	var ex [12]byte
	binary.BigEndian.PutUint16(ex[0:], wire.InfoExport)
	binary.BigEndian.PutUint64(ex[2:], uint64(e.size))
	binary.BigEndian.PutUint16(ex[10:], e.flags)
	// Block sizes are sent whether asked or not: a client that did not ask
	// may ignore them, and unaligned requests are served anyway.
	var bs [14]byte
	binary.BigEndian.PutUint16(bs[0:], wire.InfoBlockSize)
	binary.BigEndian.PutUint32(bs[2:], uint32(e.sector))
	binary.BigEndian.PutUint32(bs[6:], e.pref)
	binary.BigEndian.PutUint32(bs[10:], MaxRequest)
	infos := [][]byte{ex[:], bs[:]}
	if wantName {
		infos = append(infos, append([]byte{0, wire.InfoName}, e.Name...))
	}
	if wantDesc && e.Description != "" {
		infos = append(infos, append([]byte{0, wire.InfoDescription}, e.Description...))
	}
	for _, b := range infos {
		if err := c.optReply(opt, wire.RepInfo, b); err != nil {
			return nil, err
		}
	}
	if err := c.optReply(opt, wire.RepAck, nil); err != nil {
		return nil, err
	}
	return e, nil
}

// optReply sends one option reply.
func (c *conn) optReply(opt, typ uint32, data []byte) error {
	b := make([]byte, wire.OptReplyLen+len(data))
	binary.BigEndian.PutUint64(b[0:], wire.MagicOptReply)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(data)))
	copy(b[wire.OptReplyLen:], data)
	_, err := c.w.Write(b)
	return err
}
