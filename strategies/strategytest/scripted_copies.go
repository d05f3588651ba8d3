package strategytest

import (
	"errors"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func caseSnapshotIsolation(f *fixture) {
	base := f.create("base", 4)
	v := f.open(base)
	a, b := pattern(1, 4*f.chunk()), pattern(2, 4*f.chunk())
	f.write(v, 0, a)
	s1, err := f.eng.Snapshot(base, "s1")
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(v, 0, b[:f.chunk()])                        // a whole chunk
	f.write(v, int64(2*f.chunk()+f.sec()), b[:f.sec()]) // one sector of a chunk
	s2, err := f.eng.Snapshot(base, "s2")
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(v, 0, pattern(3, 4*f.chunk()))
	sv := f.open(s1)
	f.expect(sv, 0, a)
	_, err = sv.WriteAt(device.Alloc(f.sec()), 0)
	wantErr(f.t, "write to a snapshot", err, strategies.ErrReadOnly)
	want2 := append([]byte(nil), a...)
	copy(want2, b[:f.chunk()])
	copy(want2[2*f.chunk()+f.sec():], b[:f.sec()])
	f.expect(f.open(s2), 0, want2)
	f.expect(v, 0, pattern(3, 4*f.chunk()))
	info, err := strategies.Info(f.eng, s1)
	if err != nil || info.Kind != strategies.KindSnapshot || !info.ReadOnly || info.Parent != base || !info.Valid {
		f.t.Fatalf("snapshot info %+v, %v; want a valid read-only snapshot of %d", info, err, base)
	}
	f.reopen()
	f.expect(f.open(s1), 0, a)
	f.expect(f.open(s2), 0, want2)
	f.expect(f.open(base), 0, pattern(3, 4*f.chunk()))
}

func caseCloneIsolation(f *fixture) {
	base := f.create("base", 4)
	v := f.open(base)
	a := pattern(1, 4*f.chunk())
	f.write(v, 0, a)
	c, err := f.eng.Clone(base, "c")
	if err != nil {
		f.t.Fatal(err)
	}
	cv := f.open(c)
	f.expect(cv, 0, a)
	cw := pattern(9, f.chunk())
	f.write(cv, int64(f.chunk()), cw)
	f.write(v, int64(3*f.chunk()), pattern(7, f.chunk()))
	wantClone := append([]byte(nil), a...)
	copy(wantClone[f.chunk():], cw)
	wantBase := append([]byte(nil), a...)
	copy(wantBase[3*f.chunk():], pattern(7, f.chunk()))
	f.expect(cv, 0, wantClone)
	f.expect(v, 0, wantBase)
	info, _ := strategies.Info(f.eng, c)
	if info.Kind != strategies.KindClone || info.ReadOnly {
		f.t.Fatalf("clone info %+v: want a writable clone", info)
	}
	if err := f.eng.Flush(); err != nil {
		f.t.Fatal(err)
	}
	f.reopen()
	f.expect(f.open(c), 0, wantClone)
	f.expect(f.open(base), 0, wantBase)
}

// casePartialChunk writes single sectors into chunks shared with the source:
// the rest of each chunk must survive the read-modify-write.
func casePartialChunk(f *fixture) {
	base := f.create("base", 2)
	v := f.open(base)
	a := pattern(4, 2*f.chunk())
	f.write(v, 0, a)
	c, err := f.eng.Clone(base, "c")
	if err != nil {
		f.t.Fatal(err)
	}
	cv := f.open(c)
	want := append([]byte(nil), a...)
	for _, off := range []int64{0, int64(f.chunk() - f.sec()), int64(2*f.chunk() - f.sec())} {
		p := pattern(byte(off), f.sec())
		f.write(cv, off, p)
		copy(want[off:], p)
	}
	f.expect(cv, 0, want)
	f.expect(v, 0, a)
	// And on the base side, once the clone shares its chunks.
	f.write(v, int64(f.sec()), pattern(5, f.sec()))
	copy(a[f.sec():], pattern(5, f.sec()))
	f.expect(v, 0, a)
	f.expect(cv, 0, want)
}

func caseNested(f *fixture) {
	base := f.create("base", 3)
	v := f.open(base)
	a := pattern(1, 3*f.chunk())
	f.write(v, 0, a)
	c1, err := f.eng.Clone(base, "c1")
	if err != nil {
		f.t.Fatal(err)
	}
	cv := f.open(c1)
	f.write(cv, 0, pattern(2, f.chunk()))
	s1, err := f.eng.Snapshot(c1, "c1-s1")
	if err != nil {
		f.t.Fatalf("snapshot of a clone: %v", err)
	}
	f.write(cv, 0, pattern(3, f.chunk()))
	c2, err := f.eng.Clone(s1, "c1-s1-c2")
	if err != nil {
		f.t.Fatalf("clone of a snapshot: %v", err)
	}
	c2v := f.open(c2)
	f.write(c2v, int64(2*f.chunk()), pattern(4, f.chunk()))
	wantS1 := append([]byte(nil), a...)
	copy(wantS1, pattern(2, f.chunk()))
	wantC2 := append([]byte(nil), wantS1...)
	copy(wantC2[2*f.chunk():], pattern(4, f.chunk()))
	wantC1 := append([]byte(nil), a...)
	copy(wantC1, pattern(3, f.chunk()))
	f.expect(f.open(s1), 0, wantS1)
	f.expect(c2v, 0, wantC2)
	f.expect(cv, 0, wantC1)
	f.expect(v, 0, a)
	f.reopen()
	f.expect(f.open(s1), 0, wantS1)
	f.expect(f.open(c2), 0, wantC2)
}

// caseDeleteOrders deletes a small tree in every order the caps allow and
// checks the survivors after each deletion.
func caseDeleteOrders(f *fixture) {
	orders := [][]string{{"base", "s", "c"}, {"s", "c", "base"}, {"c", "base", "s"}}
	for i, order := range orders {
		prefix := string(rune('a' + i))
		base := f.create(prefix+"base", 2)
		v := f.open(base)
		a := pattern(byte(i), 2*f.chunk())
		f.write(v, 0, a)
		v.Close()
		ids := map[string]strategies.VolumeID{"base": base}
		if f.caps.Snapshot {
			ids["s"], _ = f.eng.Snapshot(base, prefix+"s")
		}
		if f.caps.Clone {
			ids["c"], _ = f.eng.Clone(base, prefix+"c")
		}
		live := map[string]bool{}
		for k, id := range ids {
			live[k] = id != 0
		}
		for _, name := range order {
			if !live[name] {
				continue
			}
			err := f.eng.Delete(ids[name])
			children := name == "base" && (live["s"] || live["c"])
			if children && !f.caps.DeleteParent {
				wantErr(f.t, "delete of a base with dependents", err, strategies.ErrHasChildren)
				continue
			}
			if err != nil {
				f.t.Fatalf("order %v: delete %s: %v", order, name, err)
			}
			live[name] = false
			for other, ok := range live {
				if ok {
					ov := f.open(ids[other])
					f.expect(ov, 0, a)
					ov.Close()
				}
			}
			if err := f.eng.Check(); err != nil {
				f.t.Fatalf("order %v after deleting %s: %v", order, name, err)
			}
		}
		for _, name := range []string{"s", "c", "base"} {
			if live[name] {
				if err := f.eng.Delete(ids[name]); err != nil {
					f.t.Fatalf("cleanup delete %s: %v", name, err)
				}
			}
		}
	}
	if n := len(f.eng.Volumes()); n != 0 {
		for _, vi := range f.eng.Volumes() {
			if vi.Kind != strategies.KindInternal {
				f.t.Fatalf("%d volumes left after deleting all", n)
			}
		}
	}
}

func caseBusy(f *fixture) {
	id := f.create("base", 1)
	v, err := f.eng.Open(id)
	if err != nil {
		f.t.Fatal(err)
	}
	wantErr(f.t, "delete of an open volume", f.eng.Delete(id), strategies.ErrBusy)
	v.Close()
	if err := f.eng.Delete(id); err != nil {
		f.t.Fatalf("delete after close: %v", err)
	}
	_, err = f.eng.Open(id)
	wantErr(f.t, "open deleted", err, strategies.ErrNotFound)
}

// caseHandleLifecycle: a closed handle refuses IO, Flush and a second
// Close with ErrClosed, and closing it twice releases it once: the volume
// stays busy while another handle of it is open.
func caseHandleLifecycle(f *fixture) {
	id := f.create("base", 1)
	a, b := f.open(id), f.open(id)
	data := pattern(7, f.sec())
	f.write(a, 0, data)
	if err := a.Close(); err != nil {
		f.t.Fatalf("first Close: %v", err)
	}
	_, err := a.ReadAt(device.Alloc(f.sec()), 0)
	wantErr(f.t, "read on a closed handle", err, strategies.ErrClosed)
	_, err = a.WriteAt(device.Alloc(f.sec()), 0)
	wantErr(f.t, "write on a closed handle", err, strategies.ErrClosed)
	wantErr(f.t, "flush on a closed handle", a.Flush(), strategies.ErrClosed)
	wantErr(f.t, "second Close", a.Close(), strategies.ErrClosed)
	wantErr(f.t, "delete while another handle is open", f.eng.Delete(id), strategies.ErrBusy)
	f.expect(b, 0, data)
	if err := b.Flush(); err != nil {
		f.t.Fatalf("flush of the handle still open: %v", err)
	}
	if err := b.Close(); err != nil {
		f.t.Fatalf("Close of the second handle: %v", err)
	}
	if err := f.eng.Delete(id); err != nil {
		f.t.Fatalf("delete after both handles closed: %v", err)
	}
}

// templateBurst creates a two-chunk template written with pattern tag and
// n clones of it in one CloneMany (named prefix+a, prefix+b, ...); it skips
// the case when the device cannot hold them. It returns the template, an
// open handle of it, its content and the clones.
func (f *fixture) templateBurst(tag byte, prefix string, n int) (strategies.VolumeID, strategies.Volume, []byte, []strategies.VolumeID) {
	f.t.Helper()
	base := f.create("tmpl", 2)
	v := f.open(base)
	a := pattern(tag, 2*f.chunk())
	f.write(v, 0, a)
	names := make([]string, n)
	for i := range names {
		names[i] = prefix + string(rune('a'+i))
	}
	ids, err := strategies.CloneMany(f.eng, base, names)
	if errors.Is(err, strategies.ErrNoSpace) {
		f.t.Skipf("device too small for %d clones of this engine: %v", len(names), err)
	}
	if err != nil || len(ids) != len(names) {
		f.t.Fatalf("CloneMany: %d ids, %v", len(ids), err)
	}
	return base, v, a, ids
}

// caseManyClones makes a burst of clones with CloneMany and writes to each.
func caseManyClones(f *fixture) {
	_, v, a, ids := f.templateBurst(6, "clone-", 24)
	for i, id := range ids {
		cv := f.open(id)
		p := pattern(byte(i), f.sec())
		f.write(cv, int64(i%2*f.chunk()), p)
		want := append([]byte(nil), a...)
		copy(want[i%2*f.chunk():], p)
		f.expect(cv, 0, want)
		cv.Close()
	}
	f.expect(v, 0, a)
	f.reopen()
	for i, id := range ids {
		cv := f.open(id)
		want := append([]byte(nil), a...)
		copy(want[i%2*f.chunk():], pattern(byte(i), f.sec()))
		f.expect(cv, 0, want)
		cv.Close()
	}
}

// caseManyDeletes deletes a burst of clones with DeleteMany: a batch holding
// an open volume is refused whole, and after the batch every deleted clone is
// gone across a reopen while the kept ones and the template are intact.
func caseManyDeletes(f *fixture) {
	base, v, a, ids := f.templateBurst(7, "del-", 12)
	for i, id := range ids {
		cv := f.open(id)
		f.write(cv, 0, pattern(byte(40+i), f.sec()))
		cv.Close()
	}
	doomed, kept := ids[:8], ids[8:]
	if _, ok := f.eng.(strategies.BatchDeleter); ok {
		busy, err := f.eng.Open(doomed[3])
		if err != nil {
			f.t.Fatal(err)
		}
		wantErr(f.t, "DeleteMany with an open volume", strategies.DeleteMany(f.eng, doomed), strategies.ErrBusy)
		busy.Close()
		for _, id := range doomed {
			if _, err := strategies.Info(f.eng, id); err != nil {
				f.t.Fatalf("refused DeleteMany removed volume %d: %v", id, err)
			}
		}
	}
	if err := strategies.DeleteMany(f.eng, doomed); err != nil {
		f.t.Fatalf("DeleteMany: %v", err)
	}
	check := func(when string) {
		for _, id := range doomed {
			if _, err := f.eng.Open(id); !errors.Is(err, strategies.ErrNotFound) {
				f.t.Fatalf("%s: open of deleted clone %d: %v, want ErrNotFound", when, id, err)
			}
		}
		for i, id := range kept {
			cv := f.open(id)
			want := append([]byte(nil), a...)
			copy(want, pattern(byte(40+8+i), f.sec()))
			f.expect(cv, 0, want)
			cv.Close()
		}
	}
	check("after DeleteMany")
	f.expect(v, 0, a)
	v.Close()
	f.reopen()
	check("after reopen")
	tv := f.open(base)
	f.expect(tv, 0, a)
	tv.Close()
}
