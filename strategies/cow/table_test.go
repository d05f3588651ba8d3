package cow

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func volumeNames(e *Engine) map[string]strategies.VolumeID {
	m := map[string]strategies.VolumeID{}
	for _, v := range e.Volumes() {
		m[v.Name] = v.ID
	}
	return m
}

func cloneNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return names
}

// TestTableGrowth fills the volume table past its inline records and
// several segments, deletes in batches and one at a time, and reopens: the
// volumes, their record slots and the free space survive, Check is clean,
// and a clone or delete writes one table page plus the header, whatever the
// number of volumes.
func TestTableGrowth(t *testing.T) {
	opts := strategies.Options{ChunkSize: 4096, Params: map[string]string{"delta-percent": "100", "delta-min": "0"}}
	mem := device.MustMem(64 << 20)
	cnt := device.NewCounting(mem)
	e := newTestEngine(t, cnt, opts)
	base, err := e.Create("base", 4096)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.CloneMany(base, cloneNames("c", 1500))
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, e)
	if len(e.tab.segs) < 3 {
		t.Fatalf("1500 clones in %d table segments", len(e.tab.segs))
	}
	for _, tc := range []struct {
		name  string
		op    func() error
		pages int64 // table pages written, besides the header
	}{
		{"clone", func() error { _, err := e.Clone(base, "one"); return err }, 1},
		{"delete", func() error { return e.Delete(ids[700]) }, 1},
		{"delete many in one page", func() error { return e.DeleteMany(ids[800:803]) }, 1},
	} {
		before := cnt.Counters()
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		d := cnt.Counters().Sub(before)
		if d.WriteBytes != (tc.pages+1)*blockSize {
			t.Errorf("%s: %d bytes written, want %d", tc.name, d.WriteBytes, (tc.pages+1)*blockSize)
		}
	}
	if err := e.DeleteMany(append(slices.Clone(ids[:500]), ids[1000:1100]...)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, e)
	want := volumeNames(e)
	e2 := reopenEngine(t, mem.Reopen())
	mustCheck(t, e2)
	if got := volumeNames(e2); !maps.Equal(got, want) {
		t.Fatalf("reopen: %d volumes, want %d", len(got), len(want))
	}
	// Freed slots and space are reused lowest first.
	if _, err := e2.CloneMany(base, cloneNames("again", 600)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, e2)
	if e2.tab.pagesUsed != e.tab.pagesUsed {
		t.Errorf("%d pages after reusing freed slots, %d before", e2.tab.pagesUsed, e.tab.pagesUsed)
	}
}

// TestMaxVolumes: the cap, when set, fails with a message naming the
// option and the number.
func TestMaxVolumes(t *testing.T) {
	opts := strategies.Options{ChunkSize: 4096, Params: map[string]string{"delta-percent": "100", "delta-min": "0", "max-volumes": "5"}}
	e := newTestEngine(t, device.MustMem(8<<20), opts)
	base, _ := e.Create("base", 4096)
	_, err := e.CloneMany(base, cloneNames("c", 5))
	if !errors.Is(err, strategies.ErrNoSpace) || !containsAll(err.Error(), "cow.max-volumes=5", "6 volumes") {
		t.Fatalf("6th volume: %v", err)
	}
	if _, err := e.CloneMany(base, cloneNames("c", 4)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, e)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestTableCrash crashes at every device operation of table commits that
// grow the table by pages and by a segment, delete in a batch, or clone one
// volume, with the header listing the written pages and with the pages
// flushed first (a lowered listing limit); after each crash the reopened
// table is exactly the one before or the one after the operation, Check is
// clean, and a further commit and reopen keep it so (a copy an aborted
// commit left must not come back).
func TestTableCrash(t *testing.T) {
	opts := strategies.Options{ChunkSize: 4096, Params: map[string]string{"delta-percent": "100", "delta-min": "0"}}
	setup := device.MustMem(32 << 20)
	e := newTestEngine(t, setup, opts)
	base, err := e.Create("base", 4096)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.CloneMany(base, cloneNames("c", 290)) // segment 0 nearly full
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		op   func(e *Engine) error
	}{
		{"clone many (new segment)", func(e *Engine) error { _, err := e.CloneMany(base, cloneNames("n", 80)); return err }},
		{"delete many", func(e *Engine) error { return e.DeleteMany(ids[10:200]) }},
		{"clone", func(e *Engine) error { _, err := e.Clone(base, "one"); return err }},
	}
	for _, limit := range []int{maxDirtyList, 2} {
		dirtyListLimit = limit
		for _, o := range ops {
			probe := device.NewFaulty(setup.Reopen(), nil)
			pe := reopenEngine(t, probe)
			before := volumeNames(pe)
			start := probe.Ops()
			if err := o.op(pe); err != nil {
				t.Fatal(err)
			}
			after := volumeNames(pe)
			total := probe.Ops() - start
			for at := uint64(0); at < total; at++ {
				for _, keep := range []float64{0, 0.5, 1} {
					mem := setup.Reopen()
					f := device.NewFaulty(mem, nil)
					ce := reopenEngine(t, f)
					f.SetInjector(device.FailFrom(f.Ops()+at, nil))
					if err := o.op(ce); !errors.Is(err, device.ErrInjected) {
						t.Fatalf("%s: crash at op %d/%d: %v", o.name, at, total, err)
					}
					crashed := mem.CrashClone(rand.New(rand.NewPCG(at, uint64(keep*10))), keep)
					re := reopenEngine(t, crashed)
					where := fmt.Sprintf("limit %d, %s, crash at op %d/%d keep %v", limit, o.name, at, total, keep)
					if err := re.Check(); err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					got := volumeNames(re)
					if !maps.Equal(got, before) && !maps.Equal(got, after) {
						t.Fatalf("%s: %d volumes, neither the %d before nor the %d after", where, len(got), len(before), len(after))
					}
					// One more commit, then reopen: still that table plus it.
					if _, err := re.Clone(base, "later"); err != nil {
						t.Fatalf("%s: clone after reopen: %v", where, err)
					}
					got["later"] = 0
					again := reopenEngine(t, crashed.Reopen())
					if err := again.Check(); err != nil {
						t.Fatalf("%s: after a further commit: %v", where, err)
					}
					now := volumeNames(again)
					now["later"] = 0
					if !maps.Equal(now, got) {
						t.Fatalf("%s: a further commit changed the table: %d volumes, want %d", where, len(now), len(got))
					}
				}
			}
		}
	}
	dirtyListLimit = maxDirtyList
}

// TestDeleteManyRules: a batch is refused whole for a missing id, an open
// volume, or a base whose dependents are not all in it; a base goes with
// all its dependents; ids listed twice count once.
func TestDeleteManyRules(t *testing.T) {
	opts := strategies.Options{ChunkSize: 4096, Params: map[string]string{"delta-percent": "100", "delta-min": "0"}}
	for _, tc := range []struct {
		name  string
		batch func(base, other strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID
		open  int // index into cs to hold open, -1 none
		want  error
	}{
		{"missing id", func(b, o strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID {
			return []strategies.VolumeID{cs[0], 999}
		}, -1, strategies.ErrNotFound},
		{"open clone", func(b, o strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID { return cs[:2] }, 1, strategies.ErrBusy},
		{"base without all dependents", func(b, o strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID {
			return []strategies.VolumeID{b, cs[0], cs[1]}
		}, -1, strategies.ErrHasChildren},
		{"base with all dependents", func(b, o strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID {
			return append([]strategies.VolumeID{b}, cs...)
		}, -1, nil},
		{"twice listed", func(b, o strategies.VolumeID, cs []strategies.VolumeID) []strategies.VolumeID {
			return []strategies.VolumeID{cs[2], cs[2], o}
		}, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := device.MustMem(16 << 20)
			e := newTestEngine(t, mem, opts)
			base, _ := e.Create("base", 4096)
			other, _ := e.Create("other", 4096)
			cs, err := e.CloneMany(base, cloneNames("c", 4))
			if err != nil {
				t.Fatal(err)
			}
			if tc.open >= 0 {
				h := mustOpen(t, e, cs[tc.open])
				defer h.Close()
			}
			before := volumeNames(e)
			batch := tc.batch(base, other, cs)
			err = e.DeleteMany(batch)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("DeleteMany: %v, want %v", err, tc.want)
			}
			after := volumeNames(e)
			if tc.want != nil && !maps.Equal(after, before) {
				t.Fatalf("refused batch changed the volumes")
			}
			if tc.want == nil {
				for _, id := range batch {
					if _, err := e.Open(id); !errors.Is(err, strategies.ErrNotFound) {
						t.Fatalf("volume %d still opens: %v", id, err)
					}
				}
			}
			mustCheck(t, e)
			re := reopenEngine(t, mem.Reopen())
			mustCheck(t, re)
			if !maps.Equal(volumeNames(re), after) {
				t.Fatal("reopen differs")
			}
		})
	}
}
