package workloads

import (
	"testing"
)

func TestOracleSemantics(t *testing.T) {
	o, err := newOracle(4096, 4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := o.base("base", 1<<20)
	get := func(v *ovol, u uint32) uint64 { x, _ := o.lookup(v, u); return x }
	o.record(base, 0, 8192, pack(base.lineage, 1)) // units 0, 1
	snap := o.snapshot(base, "snap")
	o.record(base, 4096, 4096, pack(base.lineage, 2)) // unit 1 again
	clone, _ := o.clone(snap, "clone")
	o.record(clone, 0, 4096, pack(clone.lineage, 3))
	snap2 := o.snapshot(snap, "snap-of-snap")
	for _, c := range []struct {
		v    *ovol
		u    uint32
		want uint64
	}{
		{base, 0, pack(base.lineage, 1)}, {base, 1, pack(base.lineage, 2)}, {base, 2, zeroContent},
		{snap, 0, pack(base.lineage, 1)}, {snap, 1, pack(base.lineage, 1)},
		{clone, 0, pack(clone.lineage, 3)}, {clone, 1, pack(base.lineage, 1)},
		{snap2, 1, pack(base.lineage, 1)},
	} {
		if got := get(c.v, c.u); got != c.want {
			t.Errorf("%s unit %d: %x, want %x", c.v.name, c.u, got, c.want)
		}
	}
	// A snapshot of an unchanged volume adds no layer.
	s1, s2 := o.snapshot(base, "a"), o.snapshot(base, "b")
	if s1.top != s2.top {
		t.Error("two snapshots of an unchanged volume do not share a layer")
	}
	// A failed write leaves both contents acceptable.
	o.recordUncertain(base, 0, 4096, pack(base.lineage, 9))
	if v, alts := o.lookup(base, 0); v != pack(base.lineage, 9) || len(alts) != 1 || alts[0] != pack(base.lineage, 1) {
		t.Errorf("uncertain: %x %x", v, alts)
	}
	o.record(base, 0, 4096, pack(base.lineage, 10))
	if _, alts := o.lookup(base, 0); len(alts) != 0 {
		t.Error("a successful write did not settle the unit")
	}
}

// 1000 clones share the template's layers: each holds only its own writes.
func TestOracleSharing(t *testing.T) {
	o, _ := newOracle(4096, 4096, 1)
	tmpl, _ := o.base("template", 64<<20)
	for u := int64(0); u < 4096; u++ {
		o.record(tmpl, u*4096, 4096, pack(tmpl.lineage, uint64(u+1)))
	}
	clones := make([]*ovol, 1000)
	for i := range clones {
		clones[i], _ = o.clone(tmpl, "c")
	}
	shared := clones[0].top.parent
	if shared == nil || !shared.frozen || shared.bits == nil {
		t.Fatal("template layer not frozen")
	}
	for i, c := range clones {
		if c.top.parent != shared || !c.top.empty() {
			t.Fatalf("clone %d does not share the template layer", i)
		}
		if c.top.shards[0].pages != nil {
			t.Fatalf("clone %d allocated a map before writing", i)
		}
	}
	o.record(clones[5], 0, 4096, pack(clones[5].lineage, 99))
	if v, _ := o.lookup(clones[6], 0); v != pack(tmpl.lineage, 1) {
		t.Fatal("a clone's write leaked into another")
	}
}

// Sharded layers: with several workers, units map to the shard of their
// granule's owner.
func TestOracleShards(t *testing.T) {
	o, _ := newOracle(4096, 64<<10, 4)
	for u, want := range map[uint32]int{0: 0, 15: 0, 16: 1, 47: 2, 63: 3, 64: 0} {
		if got := o.shardOf(u); got != want {
			t.Errorf("unit %d in shard %d, want %d", u, got, want)
		}
	}
}
