package workloads

import (
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
)

func TestStampRoundTrip(t *testing.T) {
	for _, sector := range []int{512, 4096} {
		tab, err := stampTableFor(sector)
		if err != nil {
			t.Fatal(err)
		}
		buf := device.Alloc(4 * sector)
		tab.stamp(buf, 3, 1<<20, 77)
		for i := 0; i < 4; i++ {
			s := buf[i*sector : (i+1)*sector]
			off := int64(1<<20 + i*sector)
			st := ReadStamp(s)
			if st.Lineage != 3 || st.Offset != off || st.Gen != 77 || !st.HeaderValid() || !PayloadOK(s) {
				t.Fatalf("sector %d: %v", i, st)
			}
			for _, full := range []bool{false, true} {
				if !tab.matches(s, off, pack(3, 77), full) {
					t.Fatalf("sector %d does not match its own stamp", i)
				}
				for _, other := range []uint64{pack(3, 76), pack(4, 77), zeroContent} {
					if tab.matches(s, off, other, full) {
						t.Fatalf("sector %d matches %x", i, other)
					}
				}
				if tab.matches(s, off+int64(sector), pack(3, 77), full) {
					t.Fatal("matches at another offset")
				}
			}
			// A payload flip is seen by full verification only.
			s[sector/2] ^= 1
			if !tab.matches(s, off, pack(3, 77), false) || tab.matches(s, off, pack(3, 77), true) || PayloadOK(s) {
				t.Fatal("payload corruption")
			}
			s[sector/2] ^= 1
			// A header flip is seen by both.
			s[9] ^= 1
			if tab.matches(s, off, pack(3, 77), false) {
				t.Fatal("header corruption not seen")
			}
			s[9] ^= 1
		}
		zero := device.Alloc(sector)
		if !tab.matches(zero, 0, zeroContent, true) || !ReadStamp(zero).IsZero() || ReadStamp(zero).String() != "zeros" {
			t.Fatal("zeros")
		}
		zero[sector-1] = 1
		if tab.matches(zero, 0, zeroContent, true) || !tab.matches(zero, 0, zeroContent, false) {
			t.Fatal("zero sector with a non-zero payload")
		}
	}
	if _, err := stampTableFor(100); err == nil {
		t.Fatal("sector of 100 bytes accepted")
	}
}

func TestStampsDiffer(t *testing.T) {
	tab, _ := stampTableFor(512)
	a, b := device.Alloc(512), device.Alloc(512)
	tab.stamp(a, 1, 0, 1)
	tab.stamp(b, 1, 0, 2)
	if string(a[stampHeader:]) == string(b[stampHeader:]) && window(1, 0, 1) != window(1, 0, 2) {
		t.Fatal("different windows, same payload")
	}
	if !strings.Contains(ReadStamp(a).String(), "generation 1") {
		t.Fatal(ReadStamp(a).String())
	}
}

func BenchmarkStamp4k(b *testing.B) {
	tab, _ := stampTableFor(512)
	buf := device.Alloc(4096)
	b.SetBytes(4096)
	for i := 0; i < b.N; i++ {
		tab.stamp(buf, 1, int64(i&1023)*4096, uint64(i))
	}
}
