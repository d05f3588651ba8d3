package cow

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const testChunk = 64 << 10

// testOpts returns options with small deltas: delta-min of minChunks chunks.
func testOpts(pct string, minChunks int) strategies.Options {
	return strategies.Options{ChunkSize: testChunk, Params: map[string]string{
		"delta-percent": pct, "delta-min": strconv.Itoa(minChunks * testChunk), "max-volumes": "1024"}}
}

func newTestEngine(t testing.TB, dev device.Device, opts strategies.Options) *Engine {
	t.Helper()
	e, err := strategies.Format("cow", dev, opts)
	if err != nil {
		t.Fatalf("format: %v", err)
	}
	return e.(*Engine)
}

func reopenEngine(t testing.TB, dev device.Device) *Engine {
	t.Helper()
	e, err := strategies.Open(dev)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e.(*Engine)
}

func mustCreate(t testing.TB, e *Engine, name string, chunks int) strategies.VolumeID {
	t.Helper()
	id, err := e.Create(name, int64(chunks)*testChunk)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return id
}

func mustSnap(t testing.TB, e *Engine, src strategies.VolumeID, name string, clone bool) strategies.VolumeID {
	t.Helper()
	var id strategies.VolumeID
	var err error
	if clone {
		id, err = e.Clone(src, name)
	} else {
		id, err = e.Snapshot(src, name)
	}
	if err != nil {
		t.Fatalf("snapshot/clone %s: %v", name, err)
	}
	return id
}

func mustOpen(t testing.TB, e *Engine, id strategies.VolumeID) strategies.Volume {
	t.Helper()
	v, err := e.Open(id)
	if err != nil {
		t.Fatalf("open %d: %v", id, err)
	}
	return v
}

func fill(tag byte, n int) []byte {
	b := device.Alloc(n)
	for i := range b {
		b[i] = tag ^ byte(i*13+i>>8)
	}
	return b
}

func mustWrite(t testing.TB, v strategies.Volume, off int64, p []byte) {
	t.Helper()
	if _, err := v.WriteAt(p, off); err != nil {
		t.Fatalf("write %d at %d: %v", v.ID(), off, err)
	}
}

func expect(t testing.TB, v strategies.Volume, off int64, want []byte) {
	t.Helper()
	got := device.Alloc(len(want))
	if _, err := v.ReadAt(got, off); err != nil {
		t.Fatalf("read %d at %d: %v", v.ID(), off, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("volume %d: differs at offset %d", v.ID(), off+int64(i))
	}
}

func mustCheck(t testing.TB, e *Engine) {
	t.Helper()
	if err := e.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}
