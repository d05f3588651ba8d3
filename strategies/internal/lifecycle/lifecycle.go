// Package lifecycle is the life of an open volume handle, the same in every
// engine: a handle is open from Init until its first Close. After that,
// ReadAt, WriteAt and Flush fail with an error wrapping
// strategies.ErrClosed, and so does every later Close; the first Close runs
// the engine's release (its open count drops) exactly once, however many
// goroutines race to close.
//
// Engines embed a Handle in their volume handle type and call Err or
// CheckIO at the top of every IO method: one atomic load on the fast path,
// and no allocation unless the call fails. The conformance suite's
// HandleLifecycle case holds every engine to this.
package lifecycle

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// Handle is a volume handle's open/closed state. Its methods are safe for
// concurrent use; it must not be copied after Init.
type Handle struct {
	label   string       // what errors name, e.g. `row: volume "base"`
	release func() error // runs at the first Close; may be nil
	engine  *atomic.Bool // the engine's closed flag, or nil
	closed  atomic.Bool
}

// Init opens the handle. label prefixes its errors (engine and volume, e.g.
// `cow: "base"`); engineClosed, if not nil, is the engine's closed flag: a
// handle of a closed engine fails IO and Flush as closed too; release, if
// not nil, runs once, at the first Close, and its error is that Close's.
func (l *Handle) Init(label string, engineClosed *atomic.Bool, release func() error) {
	l.label, l.engine, l.release = label, engineClosed, release
}

// Err returns nil while the handle (and its engine) is open, else an
// error wrapping strategies.ErrClosed.
func (l *Handle) Err() error {
	if l.closed.Load() || l.engine != nil && l.engine.Load() {
		return fmt.Errorf("%s: %w", l.label, strategies.ErrClosed)
	}
	return nil
}

// CheckIO returns Err, else device.CheckIO's verdict on an IO of p at off
// (sector and memAlign the alignment, size the volume's), prefixed with the
// label: a closed handle fails as closed whatever the IO.
func (l *Handle) CheckIO(p []byte, off int64, sector, memAlign int, size int64) error {
	if err := l.Err(); err != nil {
		return err
	}
	if err := device.CheckIO(p, off, sector, memAlign, size); err != nil {
		return fmt.Errorf("%s: %w", l.label, err)
	}
	return nil
}

// Uncount is the release of a handle the engine counts in *open under mu
// (its volume stays busy while the count is not zero).
func Uncount(mu sync.Locker, open *int) func() error {
	return func() error {
		mu.Lock()
		*open--
		mu.Unlock()
		return nil
	}
}

// Close closes the handle: the first call runs release and returns its
// error; every later call returns an error wrapping strategies.ErrClosed.
// It does not flush.
func (l *Handle) Close() error {
	if l.closed.Swap(true) {
		return fmt.Errorf("%s: %w", l.label, strategies.ErrClosed)
	}
	if l.release != nil {
		return l.release()
	}
	return nil
}
