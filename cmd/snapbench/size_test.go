package main

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512, true},
		{"512B", 512, true},
		{"4K", 4096, true},
		{"4k", 4096, true},
		{"4KiB", 4096, true},
		{"4kib", 4096, true},
		{"64M", 64 << 20, true},
		{"64MiB", 64 << 20, true},
		{" 2 G ", 2 << 30, true},
		{"1GiB", 1 << 30, true},
		{"3T", 3 << 40, true},
		{"1TiB", 1 << 40, true},
		{"2P", 2 << 50, true},
		{"8191P", 8191 << 50, true},
		{"8192P", 0, false},                // overflows int64
		{"99999999999999999999", 0, false}, // overflows int64
		{"1.5G", 0, false},                 // fractions refused
		{"64MB", 0, false},                 // SI suffixes are ambiguous
		{"64X", 0, false},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"0x10", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
