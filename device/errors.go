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

// Sentinel errors shared by every layer that reads and writes blocks: the
// devices of this package, the engines' volumes (strategies re-exports them
// under the same names) and the NBD server and client, so that errors.Is
// matches one value whichever layer produced the error. Their messages carry
// no package prefix: whoever returns one wraps it with its own ("row:
// volume 3: closed").
var (
	// ErrClosed: the device, volume or engine handle was closed.
	ErrClosed = errors.New("closed")
	// ErrReadOnly: a write to a read-only device or volume (a snapshot, an
	// export served read-only).
	ErrReadOnly = errors.New("volume is read-only")
	// ErrNoSpace: no room for the operation on the device below.
	ErrNoSpace = errors.New("no space left on device")
	// ErrInvalidArgument: a bad name, size, option or request.
	ErrInvalidArgument = errors.New("invalid argument")
)
