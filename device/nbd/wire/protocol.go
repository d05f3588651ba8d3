package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Wire constants of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md).
// Everything on the wire is big endian.
const (
	MagicInit        = 0x4e42444d41474943 // "NBDMAGIC"
	MagicOpt         = 0x49484156454f5054 // "IHAVEOPT"
	MagicOptReply    = 0x0003e889045565a9
	MagicRequest     = 0x25609513
	MagicSimpleReply = 0x67446698
	MagicStructReply = 0x668e33ef

	// Handshake flags (server) and client flags.
	FlagFixedNewstyle  = 1 << 0
	FlagNoZeroes       = 1 << 1
	FlagCFixedNewstyle = 1 << 0
	FlagCNoZeroes      = 1 << 1

	// Transmission flags.
	FlagHasFlags        = 1 << 0
	FlagReadOnly        = 1 << 1
	FlagSendFlush       = 1 << 2
	FlagSendFUA         = 1 << 3
	FlagRotational      = 1 << 4
	FlagSendTrim        = 1 << 5
	FlagSendWriteZeroes = 1 << 6
	FlagCanMultiConn    = 1 << 8

	// Options.
	OptExportName      = 1
	OptAbort           = 2
	OptList            = 3
	OptStartTLS        = 5
	OptInfo            = 6
	OptGo              = 7
	OptStructuredReply = 8

	// Option reply types.
	RepAck        = 1
	RepServer     = 2
	RepInfo       = 3
	RepErrBit     = 1 << 31
	RepErrUnsup   = RepErrBit + 1
	RepErrPolicy  = RepErrBit + 2
	RepErrInvalid = RepErrBit + 3
	RepErrUnknown = RepErrBit + 6
	RepErrTooBig  = RepErrBit + 9

	// Information types (NBD_OPT_INFO and NBD_OPT_GO).
	InfoExport      = 0
	InfoName        = 1
	InfoDescription = 2
	InfoBlockSize   = 3

	// Commands.
	CmdRead        = 0
	CmdWrite       = 1
	CmdDisc        = 2
	CmdFlush       = 3
	CmdTrim        = 4
	CmdWriteZeroes = 6

	// Command flags.
	CmdFlagFUA    = 1 << 0
	CmdFlagNoHole = 1 << 1

	// Error values of replies.
	ErrnoPerm  = 1
	ErrnoIO    = 5
	ErrnoNoMem = 12
	ErrnoInval = 22
	ErrnoNoSpc = 28
)

// Sizes of the fixed parts of messages.
const (
	RequestLen     = 28
	SimpleReplyLen = 16
	OptHeaderLen   = 16 // magic, option, length
	OptReplyLen    = 20 // magic, option, type, length
)

// MaxRequest is the largest READ or WRITE the server accepts and advertises
// as its maximum block size: 32 MiB. Larger requests get EINVAL without the
// server allocating anything for them.
const MaxRequest = 32 << 20

// MaxString is the protocol's limit on export names and other strings.
const MaxString = 4096

// MaxOption bounds the data of one option the server reads into memory; the
// data of a longer option is skipped and the option refused.
const MaxOption = 64 << 10

// Request is a decoded transmission request header.
type Request struct {
	Flags  uint16
	Type   uint16
	Handle uint64
	Offset uint64
	Length uint32
}

// ErrBadMagic: the stream is not at a request (or reply) header. The
// connection cannot resynchronise and is dropped.
var ErrBadMagic = errors.New("nbd: bad magic")

// ParseRequest decodes a request header. It never panics: a short buffer or
// a wrong magic is an error. It allocates nothing.
func ParseRequest(b []byte) (Request, error) {
	if len(b) < RequestLen {
		return Request{}, fmt.Errorf("nbd: request header of %d bytes, want %d", len(b), RequestLen)
	}
	if m := binary.BigEndian.Uint32(b[0:]); m != MagicRequest {
		return Request{}, fmt.Errorf("%w: request magic %#08x", ErrBadMagic, m)
	}
	return Request{
		Flags:  binary.BigEndian.Uint16(b[4:]),
		Type:   binary.BigEndian.Uint16(b[6:]),
		Handle: binary.BigEndian.Uint64(b[8:]),
		Offset: binary.BigEndian.Uint64(b[16:]),
		Length: binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// PutRequest encodes a request header into b (at least RequestLen bytes).
func PutRequest(b []byte, r Request) {
	binary.BigEndian.PutUint32(b[0:], MagicRequest)
	binary.BigEndian.PutUint16(b[4:], r.Flags)
	binary.BigEndian.PutUint16(b[6:], r.Type)
	binary.BigEndian.PutUint64(b[8:], r.Handle)
	binary.BigEndian.PutUint64(b[16:], r.Offset)
	binary.BigEndian.PutUint32(b[24:], r.Length)
}

// PutSimpleReply encodes a simple reply header into b (SimpleReplyLen bytes).
func PutSimpleReply(b []byte, errno uint32, handle uint64) {
	binary.BigEndian.PutUint32(b[0:], MagicSimpleReply)
	binary.BigEndian.PutUint32(b[4:], errno)
	binary.BigEndian.PutUint64(b[8:], handle)
}

// ErrnoName is the symbolic name of an NBD error value (EIO, ...).
func ErrnoName(e syscall.Errno) string {
	switch e {
	case ErrnoPerm:
		return "EPERM"
	case ErrnoIO:
		return "EIO"
	case ErrnoNoMem:
		return "ENOMEM"
	case ErrnoInval:
		return "EINVAL"
	case ErrnoNoSpc:
		return "ENOSPC"
	case 75:
		return "EOVERFLOW"
	case 108:
		return "ESHUTDOWN"
	}
	return fmt.Sprintf("error %d", uint32(e))
}

// CmdName is the name of a command for messages (read, write, ...).
func CmdName(typ uint16) string {
	switch typ {
	case CmdRead:
		return "read"
	case CmdWrite:
		return "write"
	case CmdDisc:
		return "disconnect"
	case CmdFlush:
		return "flush"
	case CmdTrim:
		return "trim"
	case CmdWriteZeroes:
		return "write-zeroes"
	}
	return fmt.Sprintf("command %d", typ)
}

// ClientGreeting reads the server's greeting and sends the client flags,
// asking for every handshake feature the server offers. It returns the
// server's handshake flags.
func ClientGreeting(w io.Writer, br *bufio.Reader) (hflags uint16, err error) {
	var g [18]byte
	if _, err := io.ReadFull(br, g[:16]); err != nil {
		return 0, fmt.Errorf("nbd: read greeting: %w", err)
	}
	if binary.BigEndian.Uint64(g[0:]) != MagicInit {
		return 0, fmt.Errorf("%w: not an NBD server", ErrBadMagic)
	}
	if binary.BigEndian.Uint64(g[8:]) != MagicOpt {
		return 0, errors.New("nbd: server speaks the oldstyle handshake, which this client does not")
	}
	if _, err := io.ReadFull(br, g[16:]); err != nil {
		return 0, fmt.Errorf("nbd: read greeting: %w", err)
	}
	hflags = binary.BigEndian.Uint16(g[16:])
	var cflags uint32
	if hflags&FlagFixedNewstyle != 0 {
		cflags |= FlagCFixedNewstyle
	}
	if hflags&FlagNoZeroes != 0 {
		cflags |= FlagCNoZeroes
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], cflags)
	if _, err := w.Write(b[:]); err != nil {
		return 0, fmt.Errorf("nbd: send client flags: %w", err)
	}
	return hflags, nil
}

// SendOption sends one option request.
func SendOption(w io.Writer, opt uint32, data []byte) error {
	b := make([]byte, OptHeaderLen+len(data))
	binary.BigEndian.PutUint64(b[0:], MagicOpt)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], uint32(len(data)))
	copy(b[OptHeaderLen:], data)
	_, err := w.Write(b)
	return err
}

// ReadOptReply reads one option reply to opt; its data is bounded by
// MaxOption.
func ReadOptReply(br *bufio.Reader, opt uint32) (typ uint32, data []byte, err error) {
	var h [OptReplyLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, fmt.Errorf("nbd: read option reply: %w", err)
	}
	if binary.BigEndian.Uint64(h[0:]) != MagicOptReply {
		return 0, nil, fmt.Errorf("%w: option reply magic", ErrBadMagic)
	}
	if got := binary.BigEndian.Uint32(h[8:]); got != opt {
		return 0, nil, fmt.Errorf("nbd: reply to option %d while waiting for option %d", got, opt)
	}
	typ = binary.BigEndian.Uint32(h[12:])
	n := binary.BigEndian.Uint32(h[16:])
	if n > MaxOption {
		return 0, nil, fmt.Errorf("nbd: option reply of %d bytes", n)
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(br, data); err != nil {
		return 0, nil, fmt.Errorf("nbd: read option reply: %w", err)
	}
	return typ, data, nil
}

// Skip reads and drops n bytes without buffering them.
func Skip(r io.Reader, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := io.CopyN(io.Discard, r, n)
	return err
}
