package device

import (
	"sync"
	"testing"
	"unsafe"
)

func aligned(p []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(p)))%BufferAlign == 0
}

var bufferSizes = []int{1, 100, 511, 512, 513, 4095, 4096, 4097, 12288, 65536, 1<<20 + 512, 16 << 20, 16<<20 + 1, 20 << 20}

func TestAlloc(t *testing.T) {
	if b := Alloc(0); b == nil || len(b) != 0 {
		t.Errorf("Alloc(0) = %v", b)
	}
	for _, n := range bufferSizes {
		b := Alloc(n)
		if len(b) != n || cap(b) != n || !aligned(b) || !allZero(b) {
			t.Errorf("Alloc(%d): len %d cap %d aligned %v zero %v", n, len(b), cap(b), aligned(b), allZero(b))
		}
	}
}

func TestGetPutBuffer(t *testing.T) {
	for _, n := range append([]int{0}, bufferSizes...) {
		b := GetBuffer(n)
		if len(b) != n || cap(b) < n || (n > 0 && !aligned(b[:1])) {
			t.Errorf("GetBuffer(%d): len %d cap %d aligned %v", n, len(b), cap(b), aligned(b[:1]))
		}
		for i := range b {
			b[i] = 0xaa
		}
		PutBuffer(b)
		c := GetBuffer(n)
		if len(c) != n || (n > 0 && !aligned(c[:1])) {
			t.Errorf("GetBuffer(%d) after PutBuffer: len %d aligned %v", n, len(c), aligned(c[:1]))
		}
		PutBuffer(c)
	}
}

// TestPutBufferRefusesStrangers: buffers GetBuffer could not have returned
// (re-slices, unaligned memory of the right capacity) never come back out.
func TestPutBufferRefusesStrangers(t *testing.T) {
	for range 100 {
		big := Alloc(8192)
		PutBuffer(big[512:4608:4608]) // capacity 4096, misaligned by 512
		PutBuffer(big[1:2049:2049])   // capacity 2048, misaligned by 1
		PutBuffer(make([]byte, 3000)) // not a size class
	}
	for range 300 {
		for _, n := range []int{4096, 2048, 2000} {
			if b := GetBuffer(n); !aligned(b) || len(b) != n {
				t.Fatalf("GetBuffer(%d) returned an unaligned or wrong-length buffer", n)
			}
		}
	}
}

func TestBufferPoolConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := 512 << (i % 8)
				b := GetBuffer(n)
				if len(b) != n || !aligned(b) {
					t.Errorf("worker %d: bad buffer", w)
					return
				}
				b[0], b[n-1] = byte(w), byte(w)
				PutBuffer(b)
			}
		}()
	}
	wg.Wait()
}
