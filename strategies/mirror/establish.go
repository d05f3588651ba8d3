package mirror

import (
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// MirrorID identifies an attached mirror. IDs are never reused on a device
// and persist across reopen; 0 is never valid. A mirror that is split off
// becomes a volume with a new VolumeID.
type MirrorID uint64

// MirrorInfo describes an attached mirror.
type MirrorInfo struct {
	ID     MirrorID            `json:"id"`
	Source strategies.VolumeID `json:"source"`
	Size   int64               `json:"size"`
	// Synced: every chunk has been copied; a split now is instant.
	Synced bool `json:"synced"`
	// OutOfSyncBytes is what synchronisation still has to copy.
	OutOfSyncBytes int64 `json:"out_of_sync_bytes"`
	// Cursor is the offset of the first chunk not yet copied (Size when
	// synced): the copy cursor.
	Cursor int64 `json:"cursor"`
}

// Establisher is the mirror engine's own interface, found by type assertion
// on the strategies.Engine it returns. Every method is safe for concurrent
// use and durable on return.
type Establisher interface {
	// Establish attaches a new full-size mirror to src. It starts out of
	// sync in every chunk; from now on every write to src is also written
	// to it where it is in sync, and synchronisation (Sync, the background
	// syncer, or the next split) copies the rest. Cost: the extent's bitmap
	// write, a flush and a table commit.
	Establish(src strategies.VolumeID) (MirrorID, error)
	// Detach removes an attached mirror and frees its extent.
	Detach(id MirrorID) error
	// Mirrors lists the mirrors attached to src, by id.
	Mirrors(src strategies.VolumeID) []MirrorInfo
	// Sync advances the copy cursors of the mirrors of src (every volume's
	// with strategies.NoVolume), by id, copying at most maxBytes (0: until
	// all are in sync), and makes the progress durable. It returns the bytes
	// copied.
	Sync(src strategies.VolumeID, maxBytes int64) (int64, error)
	// Reestablish turns a split volume back into a mirror of the volume it
	// was split from and resynchronises it: only the chunks written on
	// either side since the split are copied. The split volume ceases to
	// exist as a user volume (its id is gone; its snapshots and clones
	// stay). It fails with ErrBusy while the volume is open and with
	// ErrInvalidArgument when it is not a split of a live volume. It
	// returns the bytes copied.
	Reestablish(split strategies.VolumeID) (int64, error)
}

var _ Establisher = (*Engine)(nil)
var _ strategies.BatchCloner = (*Engine)(nil)
var _ strategies.MemoryReporter = (*Engine)(nil)
var _ strategies.Statser = (*Engine)(nil)

// Establish implements Establisher.
func (e *Engine) Establish(src strategies.VolumeID) (MirrorID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	s := e.find(src)
	if s == nil {
		return 0, e.notFound(src)
	}
	ms, err := e.establishLocked(s, 1)
	if err != nil {
		return 0, err
	}
	return ms[0].id, nil
}

// establishLocked attaches n new mirrors to s, out of sync everywhere: the
// bitmaps (all ones) are written and flushed before the commit that
// references them.
func (e *Engine) establishLocked(s *volume, n int) ([]*mirror, error) {
	if err := e.roomInTable(0, n); err != nil {
		return nil, err
	}
	bm := e.geo.bitmapLen(s.size)
	ms := make([]*mirror, 0, n)
	fail := func(err error) ([]*mirror, error) {
		for _, m := range ms {
			e.alloc.free(m.ext)
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		off, err := e.alloc.alloc(bm + s.size)
		if err != nil {
			return fail(err)
		}
		m := &mirror{mirRecord: mirRecord{id: e.nextMir + MirrorID(i), src: s.id, size: s.size, ext: off, bmLen: bm},
			src: s, oos: newChunkBitmap(s.size / e.chunk)}
		m.oos.setAll()
		ms = append(ms, m)
	}
	for _, m := range ms {
		if err := e.writeWholeBitmap(m.oos, m.ext); err != nil {
			return fail(err)
		}
	}
	if err := e.dev.Flush(); err != nil {
		return fail(fmt.Errorf("mirror: establish: %w", err))
	}
	s.rw.Lock()
	s.mirrors = append(s.mirrors, ms...)
	e.mirs = append(e.mirs, ms...)
	e.nextMir += MirrorID(n)
	err := e.commitLocked()
	s.rw.Unlock()
	if err != nil {
		return nil, err
	}
	e.st.establishes.Add(int64(n))
	e.wake()
	return ms, nil
}

// Detach implements Establisher.
func (e *Engine) Detach(id MirrorID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	m := e.findMirror(id)
	if m == nil {
		return fmt.Errorf("mirror: mirror %d: %w", id, strategies.ErrNotFound)
	}
	s := m.src
	s.rw.Lock()
	s.mirrors = slices.DeleteFunc(s.mirrors, func(x *mirror) bool { return x == m })
	e.mirs = slices.DeleteFunc(e.mirs, func(x *mirror) bool { return x == m })
	err := e.commitLocked()
	s.rw.Unlock()
	if err != nil {
		return err
	}
	e.alloc.free(m.ext)
	e.st.detaches.Add(1)
	return nil
}

// Mirrors implements Establisher.
func (e *Engine) Mirrors(src strategies.VolumeID) []MirrorInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.find(src)
	if s == nil {
		return nil
	}
	out := make([]MirrorInfo, 0, len(s.mirrors))
	for _, m := range s.mirrors {
		n := m.oos.count()
		cursor := m.size
		if c := m.oos.nextSet(0); c >= 0 {
			cursor = c * e.chunk
		}
		out = append(out, MirrorInfo{ID: m.id, Source: s.id, Size: m.size, Synced: n == 0,
			OutOfSyncBytes: n * e.chunk, Cursor: cursor})
	}
	return out
}

// Sync implements Establisher.
func (e *Engine) Sync(src strategies.VolumeID, maxBytes int64) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	var targets []*mirror
	if src == strategies.NoVolume {
		targets = e.mirs
	} else {
		s := e.find(src)
		if s == nil {
			return 0, e.notFound(src)
		}
		targets = s.mirrors
	}
	return e.syncSome(slices.Clone(targets), maxBytes)
}

// syncSome synchronises mirrors in order within a byte budget (0: all),
// then checkpoints: flush, then write the cleared bitmap blocks.
func (e *Engine) syncSome(targets []*mirror, maxBytes int64) (int64, error) {
	var copied int64
	var err error
	for _, m := range targets {
		budget := int64(0)
		if maxBytes > 0 {
			if budget = maxBytes - copied; budget <= 0 {
				break
			}
		}
		var n int64
		n, err = e.syncMirror(m, budget, false)
		copied += n
		if err != nil {
			break
		}
	}
	if copied > 0 && err == nil {
		err = e.checkpoint(targets)
	}
	return copied, err
}

// checkpoint makes synchronisation progress durable: a flush (the copied
// data), then the bitmap blocks with the cleared bits. A cleared bit reaches
// the device only after the data it stands for.
func (e *Engine) checkpoint(ms []*mirror) error {
	if err := e.dev.Flush(); err != nil {
		return fmt.Errorf("mirror: sync: %w", err)
	}
	for _, m := range ms {
		if _, err := e.writeDirty(m.oos, m.ext); err != nil {
			return err
		}
	}
	return nil
}

// copyBufLen is the size of the copy buffer a sync run uses: 1 MiB, or one
// chunk when chunks are larger.
func (e *Engine) copyBufLen() int64 { return max(1<<20, e.chunk) }

// syncMirror copies m's out-of-sync chunks from its source, from the cursor
// on and wrapping once, in runs of up to the copy buffer, until none is left
// or budget bytes (0: no limit) are copied. Each run holds the source's IO
// lock exclusively (unless the caller holds it: held), so no write to those
// chunks runs meanwhile; between runs writes proceed. Cleared bits are
// durable only after a checkpoint. The copy buffer comes from the device
// buffer pool at the first run and goes back on return (engines that never
// copy, and there are many in tests, do not hold one). Caller holds e.mu.
func (e *Engine) syncMirror(m *mirror, budget int64, held bool) (int64, error) {
	perRun := e.copyBufLen() / e.chunk
	chunks := m.size / e.chunk
	var copied int64
	var copyBuf []byte
	defer func() {
		if copyBuf != nil {
			device.PutBuffer(copyBuf)
		}
	}()
	for budget <= 0 || copied < budget {
		if !held {
			m.src.rw.Lock()
		}
		c := m.oos.nextSet(m.cursor)
		if c < 0 {
			c = m.oos.nextSet(0)
		}
		if c < 0 {
			m.cursor = 0
			if !held {
				m.src.rw.Unlock()
			}
			break
		}
		n := int64(1)
		for n < perRun && c+n < chunks && m.oos.test(c+n) {
			n++
		}
		if copyBuf == nil {
			copyBuf = device.GetBuffer(int(e.copyBufLen()))
		}
		buf := copyBuf[:n*e.chunk]
		_, err := e.dev.ReadAt(buf, m.src.dataOff()+c*e.chunk)
		if err == nil {
			_, err = e.dev.WriteAt(buf, m.dataOff()+c*e.chunk)
		}
		if err == nil {
			m.oos.clearRange(c, c+n-1)
			m.cursor = c + n
		}
		if !held {
			m.src.rw.Unlock()
		}
		if err != nil {
			return copied, fmt.Errorf("mirror: sync mirror %d: %w", m.id, err)
		}
		copied += n * e.chunk
	}
	if m.resync {
		e.st.resyncBytes.Add(copied)
	} else {
		e.st.syncBytes.Add(copied)
	}
	return copied, nil
}

// Reestablish implements Establisher.
func (e *Engine) Reestablish(split strategies.VolumeID) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	x := e.find(split)
	if x == nil {
		return 0, e.notFound(split)
	}
	if x.open > 0 {
		return 0, fmt.Errorf("mirror: reestablish %q: %w", x.name, strategies.ErrBusy)
	}
	src := e.find(x.parent)
	if src == nil || x.changed == nil {
		return 0, fmt.Errorf("mirror: reestablish %q: %w: not a split of a live volume", x.name, strategies.ErrInvalidArgument)
	}
	m, err := e.retireLocked(x, src, nil)
	if err != nil {
		return 0, err
	}
	e.st.reestablishes.Add(1)
	return e.syncSome([]*mirror{m}, 0)
}

// syncer is the optional background synchronisation goroutine.
type syncer struct {
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

// bgStep bounds the bytes copied per engine-lock hold by the syncer.
const bgStep = 4 << 20

func newSyncer() *syncer {
	return &syncer{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// start launches the background syncer when enabled.
func (e *Engine) start() {
	if e.bg != nil {
		go e.runSyncer()
		e.wake()
	}
}

// stop ends the background syncer and waits for it.
func (e *Engine) stop() {
	if e.bg != nil {
		close(e.bg.quit)
		<-e.bg.done
	}
}

// wake nudges the background syncer, if any.
func (e *Engine) wake() {
	if e.bg != nil {
		select {
		case e.bg.wake <- struct{}{}:
		default:
		}
	}
}

func (e *Engine) runSyncer() {
	defer close(e.bg.done)
	for {
		select {
		case <-e.bg.quit:
			return
		case <-e.bg.wake:
		}
		for {
			select {
			case <-e.bg.quit:
				return
			default:
			}
			if !e.syncStep() {
				break
			}
		}
	}
}

// syncStep copies up to bgStep bytes for the first mirror out of sync; it
// reports whether there may be more to do.
func (e *Engine) syncStep() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.usable() != nil {
		return false
	}
	for _, m := range e.mirs {
		if m.oos.nextSet(0) >= 0 {
			if _, err := e.syncSome([]*mirror{m}, bgStep); err != nil {
				e.st.syncFails.Add(1)
				return false
			}
			return true
		}
	}
	return false
}
