package device

import "fmt"

// Sub is a window [off, off+size) onto another device, addressed from 0. It
// adds one bounds check and an offset to every call. Close does not close the
// inner device. Safe for concurrent use if the inner device is.
type Sub struct {
	inner Device
	off   int64
	size  int64
}

// NewSub returns the window [off, off+size) of inner; both must be sector
// aligned and inside inner. A window of a *Sub is made directly on that
// Sub's inner device (Unwrap then skips the outer window).
func NewSub(inner Device, off, size int64) (*Sub, error) {
	sec := int64(inner.SectorSize())
	if off < 0 || size <= 0 || off%sec != 0 || size%sec != 0 || off > inner.Size() || size > inner.Size()-off {
		return nil, fmt.Errorf("%w: window %d+%d of a %d-byte device with %d-byte sectors",
			ErrBadSize, off, size, inner.Size(), sec)
	}
	if in, ok := inner.(*Sub); ok {
		// A window of a window is one window of the device beneath: one
		// bounds check and one call fewer per IO.
		return &Sub{inner: in.inner, off: in.off + off, size: size}, nil
	}
	return &Sub{inner: inner, off: off, size: size}, nil
}

func (s *Sub) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return 0, fmt.Errorf("%w: offset %d length %d, window size %d", ErrOutOfRange, off, len(p), s.size)
	}
	return s.inner.ReadAt(p, s.off+off)
}

func (s *Sub) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return 0, fmt.Errorf("%w: offset %d length %d, window size %d", ErrOutOfRange, off, len(p), s.size)
	}
	return s.inner.WriteAt(p, s.off+off)
}

// Discard passes through when the inner device is a Discarder.
func (s *Sub) Discard(off, n int64) error {
	d, ok := s.inner.(Discarder)
	if !ok {
		return fmt.Errorf("device: %T cannot discard", s.inner)
	}
	if err := CheckRange(off, n, s.inner.SectorSize(), s.size); err != nil {
		return err
	}
	return d.Discard(s.off+off, n)
}

func (s *Sub) Flush() error    { return s.inner.Flush() }
func (s *Sub) Size() int64     { return s.size }
func (s *Sub) SectorSize() int { return s.inner.SectorSize() }
func (s *Sub) Close() error    { return nil }
func (s *Sub) Unwrap() Device  { return s.inner }
func (s *Sub) Offset() int64   { return s.off }

// Zero passes through to the inner device's zeroing.
func (s *Sub) Zero(off, n int64) error {
	if err := CheckRange(off, n, s.inner.SectorSize(), s.size); err != nil {
		return err
	}
	return Zero(s.inner, s.off+off, n)
}
