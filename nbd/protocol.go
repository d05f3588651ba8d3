package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/snapbench/snapbench/device"
)

// Wire constants of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md).
// Everything on the wire is big endian.
const (
	magicInit        = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt         = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply    = 0x0003e889045565a9
	magicRequest     = 0x25609513
	magicSimpleReply = 0x67446698
	magicStructReply = 0x668e33ef

	// Handshake flags (server) and client flags.
	flagFixedNewstyle  = 1 << 0
	flagNoZeroes       = 1 << 1
	flagCFixedNewstyle = 1 << 0
	flagCNoZeroes      = 1 << 1

	// Transmission flags.
	flagHasFlags        = 1 << 0
	flagReadOnly        = 1 << 1
	flagSendFlush       = 1 << 2
	flagSendFUA         = 1 << 3
	flagRotational      = 1 << 4
	flagSendTrim        = 1 << 5
	flagSendWriteZeroes = 1 << 6
	flagCanMultiConn    = 1 << 8

	// Options.
	optExportName      = 1
	optAbort           = 2
	optList            = 3
	optStartTLS        = 5
	optInfo            = 6
	optGo              = 7
	optStructuredReply = 8

	// Option reply types.
	repAck        = 1
	repServer     = 2
	repInfo       = 3
	repErrBit     = 1 << 31
	repErrUnsup   = repErrBit + 1
	repErrPolicy  = repErrBit + 2
	repErrInvalid = repErrBit + 3
	repErrUnknown = repErrBit + 6
	repErrTooBig  = repErrBit + 9

	// Information types (NBD_OPT_INFO and NBD_OPT_GO).
	infoExport      = 0
	infoName        = 1
	infoDescription = 2
	infoBlockSize   = 3

	// Commands.
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdWriteZeroes = 6

	// Command flags.
	cmdFlagFUA    = 1 << 0
	cmdFlagNoHole = 1 << 1

	// Error values of replies.
	errPerm  = 1
	errIO    = 5
	errNoMem = 12
	errInval = 22
	errNoSpc = 28
)

// Sizes of the fixed parts of messages.
const (
	requestLen     = 28
	simpleReplyLen = 16
	optHeaderLen   = 16 // magic, option, length
	optReplyLen    = 20 // magic, option, type, length
)

// MaxRequest is the largest READ or WRITE the server accepts and advertises
// as its maximum block size: 32 MiB. Larger requests get EINVAL without the
// server allocating anything for them.
const MaxRequest = 32 << 20

// maxString is the protocol's limit on export names and other strings.
const maxString = 4096

// maxOption bounds the data of one option the server reads into memory; the
// data of a longer option is skipped and the option refused.
const maxOption = 64 << 10

// request is a decoded transmission request header.
type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	offset uint64
	length uint32
}

// errBadMagic: the stream is not at a request (or reply) header. The
// connection cannot resynchronise and is dropped.
var errBadMagic = errors.New("nbd: bad magic")

// parseRequest decodes a request header. It never panics: a short buffer or
// a wrong magic is an error. It allocates nothing.
func parseRequest(b []byte) (request, error) {
	if len(b) < requestLen {
		return request{}, fmt.Errorf("nbd: request header of %d bytes, want %d", len(b), requestLen)
	}
	if m := binary.BigEndian.Uint32(b[0:]); m != magicRequest {
		return request{}, fmt.Errorf("%w: request magic %#08x", errBadMagic, m)
	}
	return request{
		flags:  binary.BigEndian.Uint16(b[4:]),
		typ:    binary.BigEndian.Uint16(b[6:]),
		handle: binary.BigEndian.Uint64(b[8:]),
		offset: binary.BigEndian.Uint64(b[16:]),
		length: binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// putRequest encodes a request header into b (at least requestLen bytes).
func putRequest(b []byte, r request) {
	binary.BigEndian.PutUint32(b[0:], magicRequest)
	binary.BigEndian.PutUint16(b[4:], r.flags)
	binary.BigEndian.PutUint16(b[6:], r.typ)
	binary.BigEndian.PutUint64(b[8:], r.handle)
	binary.BigEndian.PutUint64(b[16:], r.offset)
	binary.BigEndian.PutUint32(b[24:], r.length)
}

// putSimpleReply encodes a simple reply header into b (simpleReplyLen bytes).
func putSimpleReply(b []byte, errno uint32, handle uint64) {
	binary.BigEndian.PutUint32(b[0:], magicSimpleReply)
	binary.BigEndian.PutUint32(b[4:], errno)
	binary.BigEndian.PutUint64(b[8:], handle)
}

// errnoOf maps an error of the device below an export to an NBD error value.
func errnoOf(err error) uint32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, device.ErrReadOnly), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return errPerm
	case errors.Is(err, device.ErrNoSpace), errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return errNoSpc
	case errors.Is(err, device.ErrUnaligned), errors.Is(err, device.ErrOutOfRange),
		errors.Is(err, device.ErrInvalidArgument):
		return errInval
	}
	return errIO
}

// Error is an error value a server returned for a request.
type Error struct {
	Op    string // "read", "write", "flush", "trim", "write-zeroes"
	Off   int64
	Len   int64
	Errno syscall.Errno
}

func (e *Error) Error() string {
	return fmt.Sprintf("nbd: %s %d+%d: server replied %s (%s)", e.Op, e.Off, e.Len, errnoName(e.Errno), e.Errno.Error())
}

// Unwrap lets errors.Is match the errno (syscall.EIO, syscall.ENOSPC, ...)
// and the device sentinels that correspond to it (ErrReadOnly, ErrNoSpace).
func (e *Error) Unwrap() []error {
	errs := []error{e.Errno}
	switch e.Errno {
	case errPerm:
		errs = append(errs, device.ErrReadOnly)
	case errNoSpc:
		errs = append(errs, device.ErrNoSpace)
	}
	return errs
}

func errnoName(e syscall.Errno) string {
	switch e {
	case errPerm:
		return "EPERM"
	case errIO:
		return "EIO"
	case errNoMem:
		return "ENOMEM"
	case errInval:
		return "EINVAL"
	case errNoSpc:
		return "ENOSPC"
	case 75:
		return "EOVERFLOW"
	case 108:
		return "ESHUTDOWN"
	}
	return fmt.Sprintf("error %d", uint32(e))
}

func cmdName(typ uint16) string {
	switch typ {
	case cmdRead:
		return "read"
	case cmdWrite:
		return "write"
	case cmdDisc:
		return "disconnect"
	case cmdFlush:
		return "flush"
	case cmdTrim:
		return "trim"
	case cmdWriteZeroes:
		return "write-zeroes"
	}
	return fmt.Sprintf("command %d", typ)
}
