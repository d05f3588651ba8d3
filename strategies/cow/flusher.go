package cow

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
)

// flusher shares device flushes between concurrent callers (group commit of
// the flush itself): a caller needs a flush that *started* after its writes
// were acknowledged; callers that arrive while a flush runs wait for the next
// one and share it. At queue depth 1 every flush request issues exactly one
// device flush, so device counters stay deterministic.
//
// Generations: started counts flushes begun, done the last finished one.
// mark returns the generation a caller must wait for; wait(t) returns once a
// flush of generation >= t has finished. Safe for concurrent use.
type flusher struct {
	dev     device.Device
	mu      sync.Mutex
	cond    sync.Cond
	started uint64
	done    uint64
	running bool
	failGen uint64 // generation of the last failed flush
	failErr error
	count   atomic.Int64 // device flushes issued
}

func newFlusher(dev device.Device) *flusher {
	f := &flusher{dev: dev}
	f.cond.L = &f.mu
	return f
}

// mark returns the generation of the first flush that will start after now.
func (f *flusher) mark() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started + 1
}

// wait returns once a flush of generation >= t has finished, leading one if
// none is running. It returns the device error when the flush that covered
// the caller may have failed.
func (f *flusher) wait(t uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.done < t {
		if f.running {
			f.cond.Wait()
			continue
		}
		f.started++
		g := f.started
		f.running = true
		f.mu.Unlock()
		err := f.dev.Flush()
		f.count.Add(1)
		f.mu.Lock()
		f.running = false
		f.done = g
		if err != nil {
			f.failGen, f.failErr = g, err
		}
		f.cond.Broadcast()
	}
	if f.failErr != nil && f.failGen >= t {
		return fmt.Errorf("cow: flush: %w", f.failErr)
	}
	return nil
}

// flush makes every write acknowledged before the call durable.
func (f *flusher) flush() error { return f.wait(f.mark()) }
