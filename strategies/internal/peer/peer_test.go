package peer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func TestCheckDevice(t *testing.T) {
	mem := device.MustMem(8 << 20)
	err := CheckDevice("peer", mem)
	if !errors.Is(err, strategies.ErrUnsupported) || !errors.Is(err, device.ErrNotDevice) {
		t.Fatalf("CheckDevice(mem) = %v; want ErrUnsupported and ErrNotDevice", err)
	}
	f, err := device.Open(filepath.Join(t.TempDir(), "dev"), device.Options{Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sub, err := device.NewSub(device.NewCounting(f), 1<<20, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	path, off, err := location("peer", sub)
	if err != nil || path != f.Info().Path || off != 1<<20 {
		t.Fatalf("location = %q %d %v; want %q %d", path, off, err, f.Info().Path, 1<<20)
	}
}

func TestTable(t *testing.T) {
	dir := t.TempDir()
	tab := &Table{Engine: "peer", NextID: 3, BaseUsed: 42,
		Vols: Vols{{VolumeMeta: VolumeMeta{ID: 2, Name: "b", Kind: strategies.KindSnapshot, Size: 4096, ReadOnly: true}, File: "vols/2"},
			{VolumeMeta: VolumeMeta{ID: 1, Name: "a", Kind: strategies.KindBase, Size: 4096}, File: "vols/1"}}}
	if err := SaveTable(dir, tab); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTable(dir, "peer")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Vols) != 2 || got.Vols[0].ID != 1 || got.Vols[1].Name != "b" || !got.Vols[1].ReadOnly || got.BaseUsed != 42 {
		t.Errorf("loaded %+v", got)
	}
	if _, err := LoadTable(dir, "other"); !errors.Is(err, strategies.ErrCorrupt) {
		t.Errorf("table of another engine: %v", err)
	}
	// A flipped byte inside the table is caught by the checksum.
	path := filepath.Join(dir, TableFile)
	b, _ := os.ReadFile(path)
	for i := range b {
		if b[i] == 'a' {
			b[i] = 'c'
			break
		}
	}
	os.WriteFile(path, b, 0o600)
	if _, err := LoadTable(dir, "peer"); !errors.Is(err, strategies.ErrCorrupt) {
		t.Errorf("damaged table: %v", err)
	}
	os.Remove(path)
	if _, err := LoadTable(dir, "peer"); !errors.Is(err, strategies.ErrCorrupt) {
		t.Errorf("missing table: %v", err)
	}
	// Duplicate names are refused.
	tab.Vols[0].Name = "b"
	SaveTable(dir, tab)
	if _, err := LoadTable(dir, "peer"); !errors.Is(err, strategies.ErrCorrupt) {
		t.Errorf("duplicate names: %v", err)
	}
}

// TestCheckTable: the table on disk agrees with the one in memory, or the
// difference (a volume, a layer, a next id) is reported; a missing table is
// an error of its own.
func TestCheckTable(t *testing.T) {
	dir := t.TempDir()
	tab := &Table{Engine: "peer", NextID: 2, NextLayer: 3, Layers: []Layer{{File: "layers/1.qcow2"}},
		Vols: Vols{{VolumeMeta: VolumeMeta{ID: 1, Name: "a", Kind: strategies.KindBase, Size: 4096}, File: "layers/1.qcow2"}}}
	b := &Base{EngineName: "peer", FS: &FS{Root: dir}, T: tab}
	if _, err := b.CheckTable(); err == nil {
		t.Fatal("CheckTable without a table on disk: no error")
	}
	if err := SaveTable(dir, tab); err != nil {
		t.Fatal(err)
	}
	if diff, err := b.CheckTable(); diff != nil || err != nil {
		t.Fatalf("CheckTable of the saved table = %v, %v", diff, err)
	}
	for _, tc := range []struct {
		name   string
		change func(t *Table)
	}{
		{"volume", func(t *Table) { t.Vols = nil }},
		{"layer", func(t *Table) { t.Layers = append(t.Layers, Layer{File: "layers/2.qcow2"}) }},
		{"next id", func(t *Table) { t.NextID++ }},
		{"next layer", func(t *Table) { t.NextLayer++ }},
	} {
		b.T = tab.Clone()
		tc.change(b.T)
		if diff, err := b.CheckTable(); diff == nil || err != nil {
			t.Errorf("%s differs: CheckTable = %v, %v; want a difference", tc.name, diff, err)
		}
	}
}
