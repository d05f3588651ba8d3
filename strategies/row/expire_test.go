package row_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const (
	fullChunk  = 64 << 10
	fullChunks = 16 // chunks per volume
	fullDev    = 6 << 20
)

// fullPool is a small row pool (about 70 data chunks) and the content every
// volume should have, chunk by chunk.
type fullPool struct {
	t     *testing.T
	dev   *device.Mem
	e     strategies.Engine
	want  map[string][][]byte
	ids   map[string]strategies.VolumeID
	snaps []string // in creation order
}

func newFullPool(t *testing.T, expire bool) *fullPool {
	t.Helper()
	dev, err := device.NewMem(fullDev, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := strategies.Options{Params: map[string]string{"expire-snapshots-on-full": fmt.Sprint(expire)}}
	e, err := strategies.Format("row", dev, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &fullPool{t: t, dev: dev, e: e, want: map[string][][]byte{}, ids: map[string]strategies.VolumeID{}}
}

func chunkData(tag string, gen, c int) []byte {
	p := device.Alloc(fullChunk)
	copy(p, fmt.Sprintf("%s gen %d chunk %d;", tag, gen, c))
	p[fullChunk-1] = byte(gen*31 + c)
	return p
}

func (p *fullPool) add(name string, id strategies.VolumeID, from string) {
	p.ids[name] = id
	if from == "" {
		p.want[name] = make([][]byte, fullChunks)
		return
	}
	p.want[name] = slices.Clone(p.want[from])
}

func (p *fullPool) copyOf(kind strategies.Kind, from, name string) {
	p.t.Helper()
	create := p.e.Snapshot
	if kind == strategies.KindClone {
		create = p.e.Clone
	}
	id, err := create(p.ids[from], name)
	if err != nil {
		p.t.Fatalf("%s %s of %s: %v", kind, name, from, err)
	}
	p.add(name, id, from)
	if kind == strategies.KindSnapshot {
		p.snaps = append(p.snaps, name)
	}
}

// write writes whole chunks [from, to) of name with gen's data, one chunk
// per WriteAt, and returns the first error; chunks written before it are
// recorded.
func (p *fullPool) write(name string, gen, from, to int) error {
	p.t.Helper()
	v, err := p.e.Open(p.ids[name])
	if err != nil {
		p.t.Fatal(err)
	}
	defer v.Close()
	for c := from; c < to; c++ {
		d := chunkData(name, gen, c)
		if _, err := v.WriteAt(d, int64(c)*fullChunk); err != nil {
			return err
		}
		p.want[name][c] = d
	}
	return nil
}

// verify checks the engine and the content of every volume in the model
// that still exists, and returns the names that exist.
func (p *fullPool) verify() map[string]bool {
	p.t.Helper()
	if err := p.e.Check(); err != nil {
		p.t.Fatalf("Check: %v", err)
	}
	exists := map[string]bool{}
	for _, vi := range p.e.Volumes() {
		exists[vi.Name] = true
	}
	buf := device.Alloc(fullChunk)
	for name, chunks := range p.want {
		if !exists[name] {
			continue
		}
		v, err := p.e.Open(p.ids[name])
		if err != nil {
			p.t.Fatal(err)
		}
		for c, d := range chunks {
			if _, err := v.ReadAt(buf, int64(c)*fullChunk); err != nil {
				p.t.Fatalf("read %s chunk %d: %v", name, c, err)
			}
			if d == nil {
				d = make([]byte, fullChunk)
			}
			if !bytes.Equal(buf, d) {
				p.t.Fatalf("%s chunk %d: read %q..., want %q...", name, c, buf[:24], d[:24])
			}
		}
		v.Close()
	}
	return exists
}

// fillUp builds base, a clone of the empty base, and a clone of the first
// snapshot, then rewrites base once per generation with a snapshot before
// each rewrite: a pool of ~70 chunks holds base, the clones and about two
// generations, so the pool runs out of space by the fourth generation. It
// returns the first write error.
func (p *fullPool) fillUp(gens int) error {
	p.t.Helper()
	id, err := p.e.Create("base", fullChunks*fullChunk)
	if err != nil {
		p.t.Fatal(err)
	}
	p.add("base", id, "")
	p.copyOf(strategies.KindClone, "base", "clone-empty")
	if err := p.write("clone-empty", 1, 0, 4); err != nil {
		p.t.Fatal(err)
	}
	if err := p.write("base", 1, 0, fullChunks); err != nil {
		p.t.Fatal(err)
	}
	for g := 2; g <= gens; g++ {
		p.copyOf(strategies.KindSnapshot, "base", fmt.Sprintf("snap-%d", g-1))
		if g == 2 {
			p.copyOf(strategies.KindClone, "snap-1", "clone-of-snap")
			if err := p.write("clone-of-snap", 2, 0, 1); err != nil {
				p.t.Fatal(err)
			}
		}
		if err := p.write("base", g, 0, fullChunks); err != nil {
			return err
		}
	}
	return p.e.Flush()
}

// TestFullWithoutExpiry: with the default options a full pool fails writes
// with ErrNoSpace, expires nothing, and every volume stays consistent.
func TestFullWithoutExpiry(t *testing.T) {
	p := newFullPool(t, false)
	err := p.fillUp(10)
	if !errors.Is(err, strategies.ErrNoSpace) {
		t.Fatalf("filling the pool: %v, want ErrNoSpace", err)
	}
	if n := p.e.Space().Expired; n != 0 {
		t.Fatalf("Space().Expired = %d without the option", n)
	}
	exists := p.verify()
	for name := range p.want {
		if !exists[name] {
			t.Fatalf("volume %s disappeared without the option", name)
		}
	}
	if err := p.e.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestFullExpiresOldestSnapshots: with expire-snapshots-on-full the same
// writes succeed; the oldest snapshots go first, clones (including a clone
// of an expired snapshot) and the base never do, Space().Expired counts
// them, and the count and the data survive a reopen.
func TestFullExpiresOldestSnapshots(t *testing.T) {
	p := newFullPool(t, true)
	const gens = 10
	if err := p.fillUp(gens); err != nil {
		t.Fatalf("filling the pool with expiry: %v", err)
	}
	exists := p.verify()
	for _, name := range []string{"base", "clone-empty", "clone-of-snap"} {
		if !exists[name] {
			t.Fatalf("%s was deleted: only snapshots may expire", name)
		}
	}
	expired := 0
	for expired < len(p.snaps) && !exists[p.snaps[expired]] {
		expired++
	}
	for _, s := range p.snaps[expired:] {
		if !exists[s] {
			t.Fatalf("snapshots %v: %s expired although an older one survived", p.snaps, s)
		}
	}
	if expired == 0 || expired == len(p.snaps) {
		t.Fatalf("%d of %d snapshots expired; the scenario should expire some, not all", expired, len(p.snaps))
	}
	if got := p.e.Space().Expired; got != int64(expired) {
		t.Fatalf("Space().Expired = %d, %d snapshots are gone", got, expired)
	}
	if st, ok := p.e.(strategies.Statser); ok && st.Stats()["expired"] != int64(expired) {
		t.Fatalf("Stats()[expired] = %d, want %d", st.Stats()["expired"], expired)
	}
	t.Logf("expired %d of %d snapshots: %v", expired, len(p.snaps), p.snaps[:expired])

	if err := p.e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := strategies.Open(p.dev)
	if err != nil {
		t.Fatal(err)
	}
	p.e = e
	t.Cleanup(func() { e.Close() })
	if got := e.Space().Expired; got != int64(expired) {
		t.Fatalf("after reopen Space().Expired = %d, want %d", got, expired)
	}
	if again := p.verify(); len(again) != len(exists) {
		t.Fatalf("after reopen %d volumes, before %d", len(again), len(exists))
	}
}

// TestCloneManyOneCommit: a burst of clones costs one commit and the
// device flushes of one single Clone, however many clones it makes.
func TestCloneManyOneCommit(t *testing.T) {
	mem, err := device.NewMem(16<<20, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dev := device.NewCounting(mem)
	e, err := strategies.Format("row", dev, strategies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base, err := e.Create("base", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	commits := func() int64 { return e.(strategies.Statser).Stats()["commits"] }

	c0, f0 := commits(), dev.Counters().Flushes
	if _, err := e.Clone(base, "single"); err != nil {
		t.Fatal(err)
	}
	oneCommit, oneFlushes := commits()-c0, dev.Counters().Flushes-f0
	if oneCommit != 1 {
		t.Fatalf("one Clone made %d commits", oneCommit)
	}

	names := make([]string, 300) // more records than one volume-table leaf holds
	for i := range names {
		names[i] = fmt.Sprintf("burst-%d", i)
	}
	c0, f0 = commits(), dev.Counters().Flushes
	ids, err := strategies.CloneMany(e, base, names)
	if err != nil {
		t.Fatal(err)
	}
	if got := commits() - c0; got != 1 {
		t.Fatalf("CloneMany of %d made %d commits, want 1", len(names), got)
	}
	if got := dev.Counters().Flushes - f0; got != oneFlushes {
		t.Fatalf("CloneMany of %d flushed %d times, a single Clone %d", len(names), got, oneFlushes)
	}
	if len(ids) != len(names) {
		t.Fatalf("CloneMany returned %d ids for %d names", len(ids), len(names))
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	if got := len(e.Volumes()); got != len(names)+2 {
		t.Fatalf("%d volumes, want %d", got, len(names)+2)
	}
}
