package paged

import (
	"errors"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// TestReserve: after Reserve(n) the next n Allocs succeed even when no
// extent can be had any more, the reserved room survives a commit and a
// reload, and Reserve fails with ErrNoSpace, taking nothing, when the
// extents run out.
func TestReserve(t *testing.T) {
	cases := []struct {
		name string
		n    int
	}{{"inline only", 10}, {"first page", 40}, {"three segments", 2000}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := device.MustMem(64 << 20)
			const chunk, dataStart = 65536, 65536
			next := int64(dataStart)
			extents := func(n int64) (int64, bool) { off := next; next += n; return off, next <= dev.Size() }
			none := func(int64) (int64, bool) { return 0, false }
			s := New(dev, 0, [2][4]byte{{'T', 'S', 'T', 'H'}, {'T', 'S', 'T', 'P'}}, 100, 4, chunk)
			s.Format()
			if err := s.Reserve(c.n, extents); err != nil {
				t.Fatal(err)
			}
			segs := len(s.Extents())
			for i := range c.n {
				if _, err := s.Alloc(none); err != nil {
					t.Fatalf("Alloc %d of %d after Reserve: %v", i+1, c.n, err)
				}
			}
			if len(s.Extents()) != segs {
				t.Fatalf("Allocs took segments: %d, were %d", len(s.Extents()), segs)
			}
			if err := s.Commit(dev.Flush, func(sl int, b []byte) { b[0] = byte(sl%255 + 1) }); err != nil {
				t.Fatal(err)
			}
			r := New(dev, 0, [2][4]byte{{'T', 'S', 'T', 'H'}, {'T', 'S', 'T', 'P'}}, 100, 4, chunk)
			got := 0
			if err := r.Load(dataStart, dev.Size(), func(sl int, b []byte) error {
				if b[0] != byte(sl%255+1) {
					t.Errorf("slot %d holds record %d", sl, b[0])
				}
				got++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got != c.n {
				t.Fatalf("reloaded %d records, want %d", got, c.n)
			}
			room := r.free.Len() + int(r.totalPages()-int64(r.pagesUsed))*r.perPage
			if len(r.used) < r.inline {
				room += r.inline - len(r.used)
			}
			if err := r.Reserve(room, none); err != nil {
				t.Fatalf("Reserve of the room the segments have = %v", err)
			}
			if err := r.Reserve(room+1, none); !errors.Is(err, strategies.ErrNoSpace) {
				t.Fatalf("Reserve beyond the segments without extents = %v, want ErrNoSpace", err)
			}
		})
	}
}
