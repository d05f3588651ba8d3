package cow

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func TestChunkMap(t *testing.T) {
	var m chunkMap
	ref := make(map[uint32]uint32)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		c := rng.Uint32N(1 << 20)
		if i%7 == 0 {
			c = maxChunks - 1 - rng.Uint32N(3) // the top of the range
		}
		v := rng.Uint32()
		m.put(c, v)
		ref[c] = v
	}
	if m.len() != len(ref) {
		t.Fatalf("len %d, want %d", m.len(), len(ref))
	}
	for c, v := range ref {
		if got, ok := m.get(c); !ok || got != v {
			t.Fatalf("get(%d) = %d, %v; want %d", c, got, ok, v)
		}
	}
	for i := 0; i < 1000; i++ {
		c := rng.Uint32N(1<<20) + 1<<21
		if _, ok := m.get(c); ok {
			t.Fatalf("get(%d) found a missing chunk", c)
		}
	}
	n := 0
	m.each(func(c, v uint32) {
		n++
		if ref[c] != v {
			t.Fatalf("each: %d -> %d, want %d", c, v, ref[c])
		}
	})
	if n != len(ref) {
		t.Fatalf("each visited %d, want %d", n, len(ref))
	}
	if per := float64(m.bytes()) / float64(m.len()); per > 22 {
		t.Fatalf("%.1f bytes per entry", per)
	}
	m.reset()
	if _, ok := m.get(1); ok || m.bytes() != 0 {
		t.Fatal("reset kept entries")
	}
}

func TestBlockCodec(t *testing.T) {
	id := blockID{nonce: 99, vol: 7, index: 3}
	ents := []entry{{1, 0}, {5, 1}, {1 << 30, 2}}
	buf := device.Alloc(blockSize)
	encodeBlock(buf, id, 42, ents)
	seq, got, ok := decodeBlock(buf, id, nil)
	if !ok || seq != 42 || len(got) != 3 || got[2] != ents[2] {
		t.Fatalf("round trip: %v %d %v", ok, seq, got)
	}
	for _, other := range []blockID{{98, 7, 3}, {99, 8, 3}, {99, 7, 4}} {
		if _, _, ok := decodeBlock(buf, other, nil); ok {
			t.Fatalf("block of %+v accepted as %+v", id, other)
		}
	}
	for _, off := range []int{0, 10, 100, blockSize - 1} {
		b := append([]byte(nil), buf...)
		b[off] ^= 1
		if _, _, ok := decodeBlock(b, id, nil); ok {
			t.Fatalf("corruption at %d accepted", off)
		}
	}
	full := make([]entry, entriesPerBlock)
	for i := range full {
		full[i] = entry{uint32(i), uint32(i)}
	}
	encodeBlock(buf, id, 1, full)
	if _, got, ok := decodeBlock(buf, id, nil); !ok || len(got) != entriesPerBlock {
		t.Fatalf("full block: %v %d", ok, len(got))
	}
}

// TestTableLoadCopies: the loader takes the newest valid copy of each block
// and stops after the first block that is not full.
func TestTableLoadCopies(t *testing.T) {
	const capChunks = 2*entriesPerBlock + 10
	pair := func(k uint32, seqA uint64, entsA []entry, seqB uint64, entsB []entry) []byte {
		b := device.Alloc(2 * blockSize)
		id := blockID{nonce: 5, vol: 3, index: k}
		if entsA != nil {
			encodeBlock(b[:blockSize], id, seqA, entsA)
		}
		if entsB != nil {
			encodeBlock(b[blockSize:], id, seqB, entsB)
		}
		return b
	}
	mk := func(from, n int) []entry {
		out := make([]entry, n)
		for i := range out {
			out[i] = entry{uint32(from + i), uint32(from + i)}
		}
		return out
	}
	// Block 0: A is full (seq 4), B older (seq 3). Block 1: B newest but
	// torn, so A (seq 5, 2 entries) counts.
	l := newTableLoad(5, 3, 4096, capChunks)
	if err := l.feed(0, pair(0, 4, mk(0, entriesPerBlock), 3, mk(0, entriesPerBlock-1))); err != nil || l.done {
		t.Fatalf("block 0: %v done %v", err, l.done)
	}
	p1 := pair(1, 5, mk(entriesPerBlock, 2), 6, mk(entriesPerBlock, 3))
	p1[blockSize+600] ^= 0xff
	if err := l.feed(1, p1); err != nil || !l.done {
		t.Fatalf("block 1: %v done %v", err, l.done)
	}
	if l.count != entriesPerBlock+2 || l.tailBlock != 1 || l.tailNewest != 0 || len(l.tailEnt) != 2 || l.seq != 5 {
		t.Fatalf("count %d tail %d newest %d tailEnt %d seq %d", l.count, l.tailBlock, l.tailNewest, len(l.tailEnt), l.seq)
	}
	// A duplicated chunk is corruption.
	l = newTableLoad(5, 3, 4096, capChunks)
	if err := l.feed(0, pair(0, 1, []entry{{1, 0}, {1, 1}}, 0, nil)); !errors.Is(err, strategies.ErrCorrupt) {
		t.Fatalf("duplicate chunk: %v", err)
	}
	// A slot outside the delta is corruption.
	l = newTableLoad(5, 3, 4096, capChunks)
	if err := l.feed(0, pair(0, 1, []entry{{1, capChunks}}, 0, nil)); !errors.Is(err, strategies.ErrCorrupt) {
		t.Fatalf("slot out of range: %v", err)
	}
	// No valid copy: an empty table.
	l = newTableLoad(5, 3, 4096, capChunks)
	if err := l.feed(0, pair(0, 0, nil, 0, nil)); err != nil || !l.done || l.count != 0 || l.tailNewest != -1 {
		t.Fatalf("empty: %v %v %d %d", err, l.done, l.count, l.tailNewest)
	}
}

// slowFlushDev counts flushes and lets concurrent callers pile up.
type slowFlushDev struct {
	device.Device
	flushes atomic.Int64
	fail    atomic.Bool
	gate    chan struct{}
}

func (d *slowFlushDev) Flush() error {
	d.flushes.Add(1)
	<-d.gate
	if d.fail.Load() {
		return device.ErrInjected
	}
	return nil
}

func TestFlusherGroupCommit(t *testing.T) {
	dev := &slowFlushDev{Device: device.MustMem(1 << 20), gate: make(chan struct{})}
	f := newFlusher(dev)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case dev.gate <- struct{}{}:
				time.Sleep(time.Millisecond)
			case <-done:
				return
			}
		}
	}()
	const callers = 16
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.flush(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := dev.flushes.Load(); n < 1 || n > callers {
		t.Fatalf("%d device flushes for %d callers", n, callers)
	}
	dev.fail.Store(true)
	if err := f.flush(); !errors.Is(err, device.ErrInjected) {
		t.Fatalf("failing flush: %v", err)
	}
	dev.fail.Store(false)
	if err := f.flush(); err != nil {
		t.Fatalf("flush after a failed one: %v", err)
	}
	close(done)
}

func TestGeometry(t *testing.T) {
	g, err := newGeometry(48<<20, testOpts("20", 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		chunks int64
		want   uint32
	}{{1, 1}, {5, 1}, {6, 2}, {100, 20}, {101, 21}} {
		if got := g.deltaChunks(c.chunks * testChunk); got != c.want {
			t.Errorf("delta of a %d-chunk base: %d chunks, want %d", c.chunks, got, c.want)
		}
	}
	g2, _ := newGeometry(48<<20, testOpts("20", 4))
	if got := g2.deltaChunks(2 * testChunk); got != 2 {
		t.Errorf("delta-min above the base: %d chunks, want the base's 2", got)
	}
	if got := g2.deltaChunks(100 * testChunk); got != 20 {
		t.Errorf("percentage above delta-min: %d chunks, want 20", got)
	}
	for _, p := range []map[string]string{{"delta-percent": "0"}, {"delta-percent": "101"}, {"delta-percent": "x"},
		{"delta-min": "-1"}, {"max-volumes": "0"}} {
		opts := testOpts("20", 1)
		for k, v := range p {
			opts.Params[k] = v
		}
		if _, err := newGeometry(48<<20, opts); !errors.Is(err, strategies.ErrInvalidArgument) {
			t.Errorf("params %v: %v, want ErrInvalidArgument", p, err)
		}
	}
}
