package device

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these so
// that callers can test with errors.Is; the messages add the detail.
var (
	// ErrUnaligned: an offset, a length or a buffer address is not aligned as
	// the device requires (see Device).
	ErrUnaligned = errors.New("device: unaligned IO")
	// ErrOutOfRange: the IO extends past the end of the device.
	ErrOutOfRange = errors.New("device: IO past end of device")
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("device: closed")
	// ErrBadSize: a size of zero, or one that is not a multiple of the sector
	// size, or a file that is too small and no size was given.
	ErrBadSize = errors.New("device: bad size")
	// ErrNotFound: the path does not exist.
	ErrNotFound = errors.New("device: not found")
	// ErrNotDevice: the path is neither a regular file nor a block device.
	ErrNotDevice = errors.New("device: not a regular file or block device")
	// ErrRefused: the safety rules refuse the device (mounted, held, carries a
	// signature, or in use); pass Force to override.
	ErrRefused = errors.New("device: refused by safety rules")
	// ErrNoDirectIO: the file system refuses O_DIRECT.
	ErrNoDirectIO = errors.New("device: direct IO not supported")
	// ErrInjected is the default error returned by Faulty injectors.
	ErrInjected = errors.New("device: injected fault")
	// ErrNotRoot: the operation needs root (loop devices).
	ErrNotRoot = errors.New("device: needs root")
)
