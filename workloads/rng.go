package workloads

import (
	"math"
	"math/bits"
)

// rng is a small, fast, seedable generator (wyrand): one 64-bit word of
// state, one multiply per number. Not safe for concurrent use; every worker
// owns its own. It implements math/rand/v2's Source so that library
// distributions can draw from it.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: mix64(seed)} }

// Uint64 returns the next number.
func (r *rng) Uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// Uint64n returns a number in [0, n) (n > 0) by multiply-shift; the bias is
// at most n/2^64.
func (r *rng) Uint64n(n uint64) uint64 {
	hi, _ := bits.Mul64(r.Uint64(), n)
	return hi
}

// Float64 returns a number in [0, 1).
func (r *rng) Float64() float64 { return float64(r.Uint64()>>11) * (1.0 / (1 << 53)) }

// mix64 is the splitmix64 finalizer: a bijective scrambler used to derive
// independent seeds and to hash stamps.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// deriveSeed combines a run seed with stream coordinates into the seed of
// one worker's stream, so that streams are independent and reproducible.
func deriveSeed(seed uint64, parts ...uint64) uint64 {
	h := mix64(seed)
	for _, p := range parts {
		h = mix64(h ^ p)
	}
	return h
}

// probThreshold turns a probability into a threshold for r.Uint64() < t.
func probThreshold(p float64) uint64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return math.MaxUint64
	}
	return uint64(p * (1 << 63) * 2)
}
