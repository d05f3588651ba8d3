package nbd

import (
	"errors"
	"syscall"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/wire"
)

// errnoOf maps an error of the device below an export to an NBD error value.
func errnoOf(err error) uint32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, device.ErrReadOnly), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return wire.ErrnoPerm
	case errors.Is(err, device.ErrNoSpace), errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return wire.ErrnoNoSpc
	case errors.Is(err, device.ErrUnaligned), errors.Is(err, device.ErrOutOfRange),
		errors.Is(err, device.ErrInvalidArgument):
		return wire.ErrnoInval
	}
	return wire.ErrnoIO
}
