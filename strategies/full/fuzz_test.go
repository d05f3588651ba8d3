package full

import "testing"

// FuzzDecodeTable: the volume-table decoder never panics and never
// allocates beyond what the record can hold.
func FuzzDecodeTable(f *testing.F) {
	e := &Engine{nextID: 3, chunk: 65536}
	e.vols = []*volume{{id: 1, kind: 1, size: 65536, ext: 1 << 20, name: "a"}, {id: 2, parent: 1, kind: 2, size: 65536, ext: 2 << 20, name: "b"}}
	f.Add(e.encodeTable())
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeTable(b)
	})
}
