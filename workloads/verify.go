package workloads

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/snapbench/snapbench/strategies"
)

// VerifyMode says how reads are checked against the oracle.
type VerifyMode uint8

const (
	// VerifyStamp (the default) checks the 32-byte stamp header of every
	// sector read: right volume lineage, offset and generation.
	VerifyStamp VerifyMode = iota
	// VerifyFull also compares every payload byte with the one its stamp
	// implies.
	VerifyFull
	// VerifyOff writes no stamps and checks nothing: pure speed runs.
	VerifyOff
)

func (m VerifyMode) String() string {
	switch m {
	case VerifyFull:
		return "full"
	case VerifyOff:
		return "off"
	}
	return "stamp"
}

// ParseVerifyMode reads "stamp", "full" or "off".
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "stamp", "on", "":
		return VerifyStamp, nil
	case "full":
		return VerifyFull, nil
	case "off", "none":
		return VerifyOff, nil
	}
	return 0, fmt.Errorf("want stamp, full or off")
}

// ErrMismatch is wrapped by every verification failure (see MismatchError).
var ErrMismatch = errors.New("workloads: verification mismatch")

// MismatchError is a read that returned something other than what the oracle
// says the volume holds. It names the volume, the sector's offset, what was
// expected and what was found, and a diagnosis.
type MismatchError struct {
	Volume   string
	VolumeID strategies.VolumeID
	Offset   int64  // of the sector in the volume, bytes
	Expected string // the stamp(s) the oracle allows, or "zeros"
	Found    Stamp
	Detail   string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("workloads: verification failed: volume %q (id %d) at offset %d: expected %s, found %s: %s",
		e.Volume, e.VolumeID, e.Offset, e.Expected, e.Found, e.Detail)
}

func (e *MismatchError) Unwrap() error { return ErrMismatch }

// verifyRead checks p, just read from t at off, against the oracle: one
// lookup per unit, one header (or sector) comparison per sector.
func (w *worker) verifyRead(t *ioTarget, p []byte, off int64) error {
	s := w.s
	o, tab := s.o, s.tab
	full := s.mode == VerifyFull
	sec := tab.sector
	cur := int64(-1)
	var want uint64
	var alts []uint64
	for i := 0; i+sec <= len(p); i += sec {
		so := off + int64(i)
		if u := so >> o.unitShift; u != cur {
			cur = u
			want, alts = o.lookup(t.ov, uint32(u))
		}
		b := p[i : i+sec]
		if tab.matches(b, so, want, full) {
			continue
		}
		ok := false
		for _, a := range alts {
			if tab.matches(b, so, a, full) {
				ok = true
				break
			}
		}
		if !ok {
			return s.mismatch(t, so, b, want, alts)
		}
	}
	return nil
}

// mismatch builds the error for sector b of t at off.
func (s *session) mismatch(t *ioTarget, off int64, b []byte, want uint64, alts []uint64) error {
	found := ReadStamp(b)
	exp := expectedStamp(want, off)
	if len(alts) > 0 {
		parts := []string{exp}
		for _, a := range alts {
			parts = append(parts, expectedStamp(a, off))
		}
		exp = "one of " + strings.Join(parts, ", ") + " (after a failed write)"
	}
	e := &MismatchError{Volume: t.name, VolumeID: t.id, Offset: off, Expected: exp, Found: found}
	wl, wg := unpack(want)
	switch {
	case found.IsZero() && want != zeroContent:
		if allZero(b) {
			e.Detail = fmt.Sprintf("the sector reads as zeros (a lost write, or data the copy did not carry; expected data written by %q)", s.o.lineageName(wl))
		} else {
			e.Detail = "the header reads as zeros but the payload does not (a torn or damaged sector)"
		}
	case found.IsZero():
		e.Detail = "the sector reads as zeros but its payload does not (damaged)"
	case found.Magic != stampMagic:
		e.Detail = "the sector holds no stamp (overwritten by something else: engine metadata, or another device)"
	case !found.HeaderValid():
		e.Detail = "the stamp header is damaged (its check does not match)"
	case want == zeroContent:
		e.Detail = fmt.Sprintf("expected a never-written sector, found data written by %q", s.o.lineageName(found.Lineage))
	case found.Offset != off:
		e.Detail = fmt.Sprintf("misdirected: the sector was written at offset %d by %q", found.Offset, s.o.lineageName(found.Lineage))
	case found.Lineage != wl:
		e.Detail = fmt.Sprintf("the data was written by %q, not %q (content leaked between volumes)",
			s.o.lineageName(found.Lineage), s.o.lineageName(wl))
	case found.Gen < wg:
		e.Detail = fmt.Sprintf("stale: an older write of %q (generation %d before %d)", s.o.lineageName(wl), found.Gen, wg)
	case found.Gen > wg:
		e.Detail = fmt.Sprintf("a later write of %q (generation %d after %d): a snapshot that is not point-in-time", s.o.lineageName(wl), found.Gen, wg)
	default:
		i := payloadDiff(s.tab, b, off, want)
		e.Detail = fmt.Sprintf("the stamp is right but the payload differs from it at byte %d of the sector", i)
		if !PayloadOK(b) {
			e.Detail += " (and from the CRC in its header: the data was damaged after it was written)"
		}
	}
	return e
}

func payloadDiff(t *stampTable, b []byte, off int64, want uint64) int {
	l, g := unpack(want)
	exp := t.payload(window(l, off, g))
	got := b[stampHeader:]
	for i := range exp {
		if got[i] != exp[i] {
			return stampHeader + i
		}
	}
	if !bytes.Equal(got, exp) {
		return len(b)
	}
	return -1
}
