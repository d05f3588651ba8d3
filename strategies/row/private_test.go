package row

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
)

// TestPrivateBytesCorruptTree: Volumes (through privateBytes) stays bounded
// on trees a corrupt image could hold, where every node has reference count
// 1 but internal nodes repeat one child in all their entries (a DAG whose
// paths multiply by 254 per level) or point to themselves (a cycle). The
// trees are built in the node cache and the space map, which is where
// privateBytes reads them: the same as loading them from a crafted device.
func TestPrivateBytesCorruptTree(t *testing.T) {
	dev, err := device.NewMem(fuzzDevSize, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := Format(dev, fuzzOpts)
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	hung := false // Close would wait for the hung walk's hold of e.mu
	t.Cleanup(func() {
		if !hung {
			e.Close()
		}
	})
	chunk := e.lay.chunk

	cases := []struct {
		name string
		// build makes a tree and returns its root.
		build func(t *testing.T) uint64
		want  int64
	}{
		{"repeated leaf", func(t *testing.T) uint64 { return repeatedTree(t, e, 1) }, 2*blockSize + chunk},
		{"repeated to max depth", func(t *testing.T) uint64 { return repeatedTree(t, e, maxLevels-1) }, maxLevels*blockSize + chunk},
		{"self cycle", func(t *testing.T) uint64 {
			return craftNode(t, e, 1, func(self uint64) []uint64 { return []uint64{self, self, self} })
		}, blockSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.Create(fmt.Sprintf("v%d", len(e.vols)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			e.mu.Lock()
			e.byID[id].root = tc.build(t)
			e.mu.Unlock()

			done := make(chan int64, 1)
			go func() {
				for _, vi := range e.Volumes() {
					if vi.ID == id {
						done <- vi.PrivateBytes
					}
				}
			}()
			select {
			case got := <-done:
				if got != tc.want {
					t.Errorf("PrivateBytes = %d, want %d (each node and chunk counted once)", got, tc.want)
				}
			case <-time.After(30 * time.Second):
				hung = true
				t.Fatal("Volumes did not return within 30s on a corrupt tree")
			}
		})
	}
}

// repeatedTree builds a leaf mapping one chunk, then height levels of
// internal nodes whose every entry points to the node below, and returns the
// top. Every node and the chunk have reference count 1.
func repeatedTree(t *testing.T, e *Engine, height int) uint64 {
	t.Helper()
	x, err := e.sm.alloc(dataMap)
	if err != nil {
		t.Fatal(err)
	}
	txn := e.txn
	leaf := craftNodeFn(t, e, 0, func(b []byte) {
		var v [mapValSize]byte
		mapping{chunk: x, gen: txn}.encode(v[:])
		insertAt(b, 0, 0, v[:])
	})
	a := leaf
	for lvl := 1; lvl <= height; lvl++ {
		below := a
		a = craftNode(t, e, lvl, func(uint64) []uint64 {
			kids := make([]uint64, geoms[treeMap][1].max)
			for i := range kids {
				kids[i] = below
			}
			return kids
		})
	}
	return a
}

// craftNode makes an internal mapping node at level whose children (keys
// 0, 1, ...) children(own address) returns.
func craftNode(t *testing.T, e *Engine, level int, children func(self uint64) []uint64) uint64 {
	t.Helper()
	return craftNodeFn(t, e, level, func(b []byte) {
		var v [childValSize]byte
		for i, c := range children(nAddr(b)) {
			binary.LittleEndian.PutUint64(v[:], c)
			insertAt(b, i, uint64(i), v[:])
		}
	})
}

// craftNodeFn allocates a node block (count 1) and fills its cached image.
func craftNodeFn(t *testing.T, e *Engine, level int, fill func(b []byte)) uint64 {
	t.Helper()
	a, err := e.sm.allocNode(nil)
	if err != nil {
		t.Fatalf("allocating a node: %v", err)
	}
	f, err := e.cache.create(a)
	if err != nil {
		t.Fatal(err)
	}
	initNode(f.buf, a, e.txn, treeMap, level)
	fill(f.buf)
	e.cache.put(f, true)
	return a
}
