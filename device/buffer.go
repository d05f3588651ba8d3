package device

import (
	"math/bits"
	"sync"
	"unsafe"
)

// BufferAlign is the address alignment of every buffer from Alloc and
// GetBuffer: enough for O_DIRECT on any device snapbench supports.
const BufferAlign = 4096

// Alloc returns a zeroed buffer of n bytes whose address is a multiple of
// BufferAlign. Use it (or GetBuffer) for every IO buffer.
func Alloc(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	raw := make([]byte, n+BufferAlign)
	shift := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % BufferAlign); r != 0 {
		shift = BufferAlign - r
	}
	return raw[shift : shift+n : shift+n]
}

// The pool keeps one sync.Pool per power-of-two size class from 512 B to
// 16 MiB; larger requests are allocated directly.
const (
	minClassShift = 9
	maxClassShift = 24
)

var pools [maxClassShift - minClassShift + 1]sync.Pool

func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// GetBuffer returns an aligned buffer of exactly n bytes from a pool. Its
// content is unspecified. Return it with PutBuffer when done; it is safe for
// concurrent use. Hot paths should keep their own buffers instead.
func GetBuffer(n int) []byte {
	c := classOf(n)
	if c >= len(pools) {
		return Alloc(n)
	}
	if v := pools[c].Get(); v != nil {
		b := *(v.(*[]byte))
		return b[:n]
	}
	return Alloc(1 << (c + minClassShift))[:n]
}

// PutBuffer returns a buffer obtained from GetBuffer to the pool. Buffers
// that GetBuffer could not have returned (wrong capacity, or not aligned, such
// as a re-slice) are ignored rather than pooled.
func PutBuffer(b []byte) {
	c := classOf(cap(b))
	if c >= len(pools) || cap(b) != 1<<(c+minClassShift) {
		return
	}
	b = b[:cap(b)]
	if uintptr(unsafe.Pointer(&b[0]))%BufferAlign != 0 {
		return
	}
	pools[c].Put(&b)
}
