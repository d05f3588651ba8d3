package strategytest

import (
	"bytes"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// model is the reference: every volume as a plain byte slice with copy
// semantics, plus what a crash may legitimately leave of it.
type model struct {
	sector int
	vols   map[string]*mvol
	names  []string // creation order, for deterministic choices
}

type mvol struct {
	name     string
	id       strategies.VolumeID
	kind     strategies.Kind
	size     int64
	parent   string // the source's name, "" for bases or when the source was deleted
	readOnly bool
	invalid  bool
	cur      []byte // content after every acknowledged write
	durable  []byte // content as of the last point it was made durable
	// hist holds, per sector index, every value written since durable: after
	// a crash each sector must equal durable or one of these.
	hist map[int64][][]byte
}

func newModel(sector int) *model { return &model{sector: sector, vols: make(map[string]*mvol)} }

func (m *model) add(v *mvol) {
	m.vols[v.name] = v
	m.names = append(m.names, v.name)
}

func (m *model) remove(name string) {
	delete(m.vols, name)
	for i, n := range m.names {
		if n == name {
			m.names = append(m.names[:i], m.names[i+1:]...)
			break
		}
	}
	for _, v := range m.vols {
		if v.parent == name {
			v.parent = ""
		}
	}
}

func (m *model) children(name string) int {
	n := 0
	for _, v := range m.vols {
		if v.parent == name {
			n++
		}
	}
	return n
}

func (m *model) live() []*mvol {
	out := make([]*mvol, 0, len(m.names))
	for _, n := range m.names {
		out = append(out, m.vols[n])
	}
	return out
}

func newMVol(name string, id strategies.VolumeID, kind strategies.Kind, size int64) *mvol {
	return &mvol{name: name, id: id, kind: kind, size: size, readOnly: kind == strategies.KindSnapshot,
		cur: make([]byte, size), durable: make([]byte, size), hist: make(map[int64][][]byte)}
}

// copyOf makes a point-in-time copy of src (which becomes durable: Snapshot
// and Clone make the source's acknowledged writes durable).
func (m *model) copyOf(src *mvol, name string, id strategies.VolumeID, kind strategies.Kind) *mvol {
	m.makeDurable(src)
	v := newMVol(name, id, kind, src.size)
	copy(v.cur, src.cur)
	copy(v.durable, src.cur)
	v.parent = src.name
	return v
}

func (m *model) write(v *mvol, off int64, data []byte) {
	sec := int64(m.sector)
	for i := int64(0); i < int64(len(data)); i += sec {
		s := (off + i) / sec
		v.hist[s] = append(v.hist[s], append([]byte(nil), data[i:i+sec]...))
	}
	copy(v.cur[off:], data)
}

func (m *model) makeDurable(v *mvol) {
	copy(v.durable, v.cur)
	clear(v.hist)
}

func (m *model) flushAll() {
	for _, v := range m.vols {
		m.makeDurable(v)
	}
}

// adopt takes observed content as the new truth (after a crash), durable.
func (m *model) adopt(v *mvol, content []byte) {
	copy(v.cur, content)
	copy(v.durable, content)
	clear(v.hist)
}

// checkExact compares content with the volume's current model content.
func (m *model) checkExact(v *mvol, off int64, got []byte) error {
	want := v.cur[off : off+int64(len(got))]
	if bytes.Equal(got, want) {
		return nil
	}
	return m.describeMismatch(v, off, got, want)
}

// checkCrash verifies a whole volume after a crash: every sector old (durable)
// or one of the values written since.
func (m *model) checkCrash(v *mvol, got []byte) error {
	sec := int64(m.sector)
	for s := int64(0); s*sec < v.size; s++ {
		g := got[s*sec : (s+1)*sec]
		if bytes.Equal(g, v.durable[s*sec:(s+1)*sec]) {
			continue
		}
		ok := false
		for _, h := range v.hist[s] {
			if bytes.Equal(g, h) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("volume %q (%s) sector %d (offset %d): after crash holds %s, neither the durable %s nor any of %d unflushed writes",
				v.name, v.kind, s, s*sec, digest(g), digest(v.durable[s*sec:(s+1)*sec]), len(v.hist[s]))
		}
	}
	return nil
}

func (m *model) describeMismatch(v *mvol, off int64, got, want []byte) error {
	sec := m.sector
	for i := 0; i < len(got); i += sec {
		if !bytes.Equal(got[i:i+sec], want[i:i+sec]) {
			return fmt.Errorf("volume %q (%s, id %d) offset %d: read %s, want %s",
				v.name, v.kind, v.id, off+int64(i), digest(got[i:i+sec]), digest(want[i:i+sec]))
		}
	}
	return fmt.Errorf("volume %q: mismatch", v.name)
}

// digest describes a sector briefly: zeros, or its first bytes.
func digest(b []byte) string {
	allZero := true
	for _, c := range b {
		if c != 0 {
			allZero = false
			break
		}
	}
	if allZero {
		return "zeros"
	}
	return fmt.Sprintf("[% x ...]", b[:min(8, len(b))])
}
