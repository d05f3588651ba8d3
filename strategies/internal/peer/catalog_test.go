package peer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/strategies"
)

func rec(id, parent strategies.VolumeID, name string) Record {
	return Record{VolumeMeta: VolumeMeta{ID: id, Name: name, Parent: parent, Kind: strategies.KindClone, Size: 4096},
		File: "vols/" + name}
}

func TestRecordsLookups(t *testing.T) {
	vs := Vols{rec(3, 1, "c"), rec(1, 0, "a"), rec(2, 1, "b")}
	if r := vs.Find(2); r == nil || r.Name != "b" {
		t.Fatalf("Find(2) = %+v", r)
	}
	if r := vs.Named("c"); r == nil || r.ID != 3 {
		t.Fatalf("Named(c) = %+v", r)
	}
	if vs.Find(9) != nil || vs.Named("z") != nil {
		t.Fatal("lookups of absent volumes found something")
	}
	vs.Find(2).File = "moved" // a pointer into the table, not a copy
	if vs[2].File != "moved" {
		t.Fatal("Find returned a copy")
	}
	if kids := vs.Children(1); len(kids) != 2 {
		t.Fatalf("Children(1) = %d records, want 2", len(kids))
	}
	vs.Sort()
	for i, want := range []strategies.VolumeID{1, 2, 3} {
		if vs[i].ID != want {
			t.Fatalf("after Sort, vs[%d].ID = %d", i, vs[i].ID)
		}
	}
	cp := vs.Copy()
	vs = vs.Without(1)
	if len(vs) != 2 || vs.Find(1) != nil || vs.Find(2).Parent != strategies.NoVolume || vs.Find(3).Parent != strategies.NoVolume {
		t.Fatalf("Without(1) = %+v", vs)
	}
	if len(cp) != 3 || cp.Find(2).Parent != 1 {
		t.Fatal("Copy shares the records it copied")
	}
	infos := Vols{rec(5, 0, "e"), rec(4, 0, "d")}.Infos()
	if len(infos) != 2 || infos[0].ID != 4 || !infos[0].Valid || infos[1].Size != 4096 {
		t.Fatalf("Infos = %+v", infos)
	}
}

func TestRecordsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		vols Vols
		next strategies.VolumeID
		want string // "" valid
	}{
		{"ok", Vols{rec(1, 0, "a"), rec(2, 1, "b")}, 3, ""},
		{"id zero", Vols{rec(0, 0, "a")}, 3, "outside"},
		{"id at next", Vols{rec(3, 0, "a")}, 3, "outside"},
		{"id twice", Vols{rec(1, 0, "a"), rec(1, 0, "b")}, 3, "twice"},
		{"name twice", Vols{rec(1, 0, "a"), rec(2, 0, "a")}, 3, "twice"},
		{"no size", Vols{{VolumeMeta: VolumeMeta{ID: 1, Name: "a", Kind: strategies.KindBase}, File: "f"}}, 3, "size 0"},
		{"bad kind", Vols{{VolumeMeta: VolumeMeta{ID: 1, Name: "a", Kind: 99, Size: 1}, File: "f"}}, 3, "kind 99"},
		{"no file", Vols{{VolumeMeta: VolumeMeta{ID: 1, Name: "a", Kind: strategies.KindBase, Size: 1}}}, 3, "no data file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &Table{Engine: "p", NextID: tc.next, Vols: tc.vols}
			err := tab.validate("p")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.want != "" && (!errors.Is(err, strategies.ErrCorrupt) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("validate: %v, want ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRecordsCheckFree(t *testing.T) {
	vs := Vols{rec(1, 0, "a")}
	for _, tc := range []struct {
		names []string
		ok    bool
	}{
		{[]string{"b", "c"}, true},
		{[]string{"a"}, false},
		{[]string{"b", "b"}, false},
		{nil, true},
	} {
		err := vs.CheckFree("p", strategies.KindClone, tc.names)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, strategies.ErrExists)) {
			t.Errorf("CheckFree(%q) = %v", tc.names, err)
		}
	}
	if _, err := vs.Source("p", strategies.KindClone, 7); !errors.Is(err, strategies.ErrNotFound) {
		t.Errorf("Source of an absent volume: %v", err)
	}
	if err := ValidateNames("p", []string{"ok", ""}); err == nil {
		t.Error("ValidateNames accepted an empty name")
	}
}

// The JSON of a record is flat: embedding VolumeMeta changed no byte of
// the tables already on disk.
func TestRecordJSONFlat(t *testing.T) {
	b, err := json.Marshal(Record{VolumeMeta: VolumeMeta{ID: 2, Name: "b", Parent: 1, Kind: strategies.KindSnapshot,
		Size: 4096, ReadOnly: true}, File: "vols/2"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":2,"name":"b","parent":1,"kind":2,"size":4096,"read_only":true,"file":"vols/2"}`
	if string(b) != want {
		t.Fatalf("record JSON\n got %s\nwant %s", b, want)
	}
}

func TestHandles(t *testing.T) {
	var h Handles[int]
	if h.Open(1) || h.Busy("p", "delete", 1, "a") != nil {
		t.Fatal("an empty Handles reports an open volume")
	}
	h.Add(1, 10)
	h.Add(1, 11)
	h.Add(2, 20)
	if !errors.Is(h.Busy("p", "delete", 1, "a"), strategies.ErrBusy) {
		t.Fatal("Busy of an open volume is not ErrBusy")
	}
	if id, last, ok := h.Release(10); id != 1 || last || !ok {
		t.Fatalf("Release(10) = %d %v %v, want 1 false true", id, last, ok)
	}
	if _, _, ok := h.Release(10); ok {
		t.Fatal("a handle released twice was known")
	}
	if id, last, ok := h.Release(11); id != 1 || !last || !ok || h.Open(1) {
		t.Fatalf("Release(11) = %d %v %v, open %v", id, last, ok, h.Open(1))
	}
	n := 0
	h.Each(func(int) { n++ })
	if n != 1 {
		t.Fatalf("Each saw %d handles, want 1", n)
	}
	if got := h.Take(); len(got) != 1 || got[0] != 20 || h.Open(2) {
		t.Fatalf("Take = %v, open after %v", got, h.Open(2))
	}
	if _, _, ok := h.Release(20); ok {
		t.Fatal("a handle released after Take was known")
	}
}
