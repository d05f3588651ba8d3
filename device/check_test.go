package device

import (
	"math"
	"testing"
)

func TestCheckIO(t *testing.T) {
	const size = 1 << 20
	buf := Alloc(8192)
	maxAligned := int64(math.MaxInt64/512) * 512
	cases := []struct {
		name     string
		p        []byte
		off      int64
		memAlign int
		want     error
	}{
		{"ok", buf[:4096], 0, 512, nil},
		{"ok at end", buf[:512], size - 512, 512, nil},
		{"empty at end", buf[:0], size, 512, nil},
		{"unaligned offset", buf[:512], 100, 512, ErrUnaligned},
		{"negative offset", buf[:512], -512, 512, ErrUnaligned},
		{"unaligned length", buf[:100], 0, 512, ErrUnaligned},
		{"unaligned buffer", buf[8 : 8+512], 0, 512, ErrUnaligned},
		{"unaligned buffer, no mem check", buf[8 : 8+512], 0, 1, nil},
		{"past end", buf[:1024], size - 512, 512, ErrOutOfRange},
		{"offset past end", buf[:512], size, 512, ErrOutOfRange},
		{"offset far past end", buf[:512], 1 << 40, 512, ErrOutOfRange},
		{"offset+length overflows", buf[:1024], maxAligned, 512, ErrOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckIO(c.p, c.off, 512, c.memAlign, size)
			if c.want == nil && err != nil {
				t.Fatalf("CheckIO: %v", err)
			}
			if c.want != nil {
				wantErr(t, "CheckIO", err, c.want)
			}
		})
	}
}

func TestCheckRange(t *testing.T) {
	const size = 1 << 20
	maxAligned := int64(math.MaxInt64/512) * 512
	cases := []struct {
		name   string
		off, n int64
		want   error
	}{
		{"ok", 0, size, nil},
		{"empty", size, 0, nil},
		{"unaligned offset", 1, 512, ErrUnaligned},
		{"unaligned length", 0, 513, ErrUnaligned},
		{"negative offset", -512, 512, ErrUnaligned},
		{"negative length", 512, -512, ErrUnaligned},
		{"past end", 512, size, ErrOutOfRange},
		{"overflow", maxAligned, 1024, ErrOutOfRange},
		{"overflow length", 512, maxAligned, ErrOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRange(c.off, c.n, 512, size)
			if c.want == nil && err != nil {
				t.Fatalf("CheckRange: %v", err)
			}
			if c.want != nil {
				wantErr(t, "CheckRange", err, c.want)
			}
		})
	}
}
