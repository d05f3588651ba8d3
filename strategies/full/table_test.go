package full

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func volumeSet(e strategies.Engine) map[string]strategies.VolumeID {
	m := map[string]strategies.VolumeID{}
	for _, v := range e.Volumes() {
		m[v.Name] = v.ID
	}
	return m
}

func openFull(t *testing.T, dev device.Device) *Engine {
	t.Helper()
	e, err := strategies.Open(dev)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e.(*Engine)
}

// TestTableGrowth: a clone or delete writes one table page and the header
// (plus the clone's bitmap and data), whatever the number of volumes; the
// table survives reopening across several segments.
func TestTableGrowth(t *testing.T) {
	mem := device.MustMem(256 << 20)
	cnt := device.NewCounting(mem)
	eng, err := strategies.Format("full", cnt, strategies.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	base, _ := e.Create("base", 4096)
	ids, err := e.CloneMany(base, names("c", 1200))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.store.Extents()); n < 3 {
		t.Fatalf("1200 volumes in %d segments", n)
	}
	for _, tc := range []struct {
		name string
		op   func() error
		want int64 // bytes written
	}{
		// bitmap block (one chunk) + page + header; the source has nothing
		// written, so no data is copied.
		{"clone", func() error { _, err := e.Clone(base, "one"); return err }, 3 * 4096},
		{"delete", func() error { return e.Delete(ids[600]) }, 2 * 4096},
		{"delete many in one page", func() error { return e.DeleteMany(ids[700:703]) }, 2 * 4096},
	} {
		before := cnt.Counters()
		if err := tc.op(); err != nil {
			t.Fatal(err)
		}
		if got := cnt.Counters().Sub(before).WriteBytes; got != tc.want {
			t.Errorf("%s: %d bytes written, want %d", tc.name, got, tc.want)
		}
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	want := volumeSet(e)
	re := openFull(t, mem.Reopen())
	if err := re.Check(); err != nil {
		t.Fatal(err)
	}
	if got := volumeSet(re); !maps.Equal(got, want) {
		t.Fatalf("reopen: %d volumes, want %d", len(got), len(want))
	}
}

// TestTableCrash crashes at every device operation of commits that grow
// the table by a segment, delete a batch, or clone one volume, with the
// pages listed in the header and with the pages flushed first; the reopened
// table is the one before or the one after, Check is clean, and a further
// commit keeps it so.
func TestTableCrash(t *testing.T) {
	setup := device.MustMem(64 << 20)
	eng, err := strategies.Format("full", setup, strategies.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	base, _ := e.Create("base", 4096)
	ids, err := e.CloneMany(base, names("c", 330)) // segment 0 (8 pages of 40) nearly full
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		op   func(e *Engine) error
	}{
		{"clone many (new segment)", func(e *Engine) error { _, err := e.CloneMany(base, names("n", 60)); return err }},
		{"delete many", func(e *Engine) error { return e.DeleteMany(ids[5:200]) }},
		{"clone", func(e *Engine) error { _, err := e.Clone(base, "one"); return err }},
	}
	for _, limit := range []int{0, 2} {
		for _, o := range ops {
			probe := device.NewFaulty(setup.Reopen(), nil)
			pe := openFull(t, probe)
			if limit > 0 {
				pe.store.SetMaxList(limit)
			}
			before := volumeSet(pe)
			start := probe.Ops()
			if err := o.op(pe); err != nil {
				t.Fatal(err)
			}
			after := volumeSet(pe)
			total := probe.Ops() - start
			for at := uint64(0); at < total; at++ {
				for _, keep := range []float64{0, 0.5, 1} {
					mem := setup.Reopen()
					f := device.NewFaulty(mem, nil)
					ce := openFull(t, f)
					if limit > 0 {
						ce.store.SetMaxList(limit)
					}
					f.SetInjector(device.FailFrom(f.Ops()+at, nil))
					if err := o.op(ce); !errors.Is(err, device.ErrInjected) {
						t.Fatalf("%s: crash at op %d/%d: %v", o.name, at, total, err)
					}
					crashed := mem.CrashClone(rand.New(rand.NewPCG(at, uint64(keep*10))), keep)
					re := openFull(t, crashed)
					where := fmt.Sprintf("limit %d, %s, crash at op %d/%d keep %v", limit, o.name, at, total, keep)
					if err := re.Check(); err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					got := volumeSet(re)
					if !maps.Equal(got, before) && !maps.Equal(got, after) {
						t.Fatalf("%s: %d volumes, neither the %d before nor the %d after", where, len(got), len(before), len(after))
					}
					if _, err := re.Clone(base, "later"); err != nil {
						t.Fatalf("%s: clone after reopen: %v", where, err)
					}
					got["later"] = 0
					again := openFull(t, crashed.Reopen())
					if err := again.Check(); err != nil {
						t.Fatalf("%s: after a further commit: %v", where, err)
					}
					now := volumeSet(again)
					now["later"] = 0
					if !maps.Equal(now, got) {
						t.Fatalf("%s: a further commit changed the table", where)
					}
				}
			}
		}
	}
}

// TestBatches: CloneMany is all or nothing when space runs out part way,
// DeleteMany refuses a batch whole for a missing or open volume and orphans
// the copies of what it deletes.
func TestBatches(t *testing.T) {
	mem := device.MustMem(4 << 20)
	eng, err := strategies.Format("full", mem, strategies.Options{ChunkSize: 65536})
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	base, _ := e.Create("base", 4*65536)
	free := e.Space().Free
	if _, err := e.CloneMany(base, names("big", 100)); !errors.Is(err, strategies.ErrNoSpace) {
		t.Fatalf("CloneMany beyond the device: %v", err)
	}
	if len(e.Volumes()) != 1 || e.Space().Free != free {
		t.Fatalf("failed CloneMany left %d volumes, %d bytes free of %d", len(e.Volumes()), e.Space().Free, free)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	cs, err := e.CloneMany(base, names("c", 3))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := e.Open(cs[1])
	for _, tc := range []struct {
		name  string
		batch []strategies.VolumeID
		want  error
	}{
		{"missing", []strategies.VolumeID{cs[0], 999}, strategies.ErrNotFound},
		{"open", []strategies.VolumeID{cs[0], cs[1]}, strategies.ErrBusy},
	} {
		if err := e.DeleteMany(tc.batch); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if len(e.Volumes()) != 4 {
			t.Fatalf("%s: refused batch deleted volumes", tc.name)
		}
	}
	h.Close()
	if err := e.DeleteMany([]strategies.VolumeID{base, cs[0], cs[0]}); err != nil {
		t.Fatal(err)
	}
	for _, v := range e.Volumes() {
		if v.Parent != strategies.NoVolume {
			t.Fatalf("%q keeps deleted parent %d", v.Name, v.Parent)
		}
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	re := openFull(t, mem.Reopen())
	if len(re.Volumes()) != 2 || re.Check() != nil {
		t.Fatalf("reopen: %d volumes, %v", len(re.Volumes()), re.Check())
	}
}
