package workloads

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
)

// sampler draws slot indices in [0, n) from a Distribution. It holds no
// state that changes per draw, so one per Generator; next does not allocate.
type sampler struct {
	kind DistKind
	n    uint64
	// zipf with theta < 1: the method of Gray et al. ("Quickly generating
	// billion-record synthetic databases"), as YCSB uses.
	theta, zetan, eta, alpha, thresh1 float64
	// zipf with theta > 1: rejection-inversion from math/rand/v2.
	z *rand.Zipf
	// zipf: rank r lands on slot r*mult mod n (mult coprime to n), so that
	// the popular slots are scattered rather than packed at the start.
	mult uint64
	// hotspot: draws below hotThr go to [0, hot), the rest to [hot, n).
	hotThr, hot uint64
}

func newSampler(d Distribution, n uint64, r *rng) sampler {
	s := sampler{kind: d.Kind, n: n}
	switch d.Kind {
	case Zipf:
		s.theta = d.Theta
		s.mult = scatterMultiplier(n)
		if d.Theta < 1 {
			s.zetan = zeta(n, d.Theta)
			zeta2 := 1 + math.Pow(0.5, d.Theta)
			s.alpha = 1 / (1 - d.Theta)
			s.eta = (1 - math.Pow(2/float64(n), 1-d.Theta)) / (1 - zeta2/s.zetan)
			s.thresh1 = zeta2
		} else {
			s.z = rand.NewZipf(rand.New(r), d.Theta, 1, n-1)
		}
	case Hotspot:
		s.hot = max(1, uint64(math.Ceil(float64(n)*d.HotSpacePct/100)))
		s.hot = min(s.hot, n)
		s.hotThr = probThreshold(d.HotOpsPct / 100)
	}
	return s
}

func (s *sampler) next(r *rng) uint64 {
	switch s.kind {
	case Zipf:
		var rank uint64
		if s.z != nil {
			rank = s.z.Uint64()
		} else {
			u := r.Float64()
			uz := u * s.zetan
			switch {
			case uz < 1:
				rank = 0
			case uz < s.thresh1:
				rank = 1
			default:
				rank = uint64(float64(s.n) * math.Exp(s.alpha*math.Log(s.eta*u-s.eta+1)))
			}
			if rank >= s.n {
				rank = s.n - 1
			}
		}
		hi, lo := bits.Mul64(rank, s.mult)
		_, rem := bits.Div64(hi, lo, s.n)
		return rem
	case Hotspot:
		if r.Uint64() < s.hotThr || s.hot == s.n {
			return r.Uint64n(s.hot)
		}
		return s.hot + r.Uint64n(s.n-s.hot)
	}
	return r.Uint64n(s.n)
}

// scatterMultiplier returns a multiplier coprime to n (so that r -> r*m mod n
// is a permutation), derived from the golden ratio.
func scatterMultiplier(n uint64) uint64 {
	if n <= 2 {
		return 1
	}
	m := (0x9e3779b97f4a7c15 % n) | 1
	for gcd(m, n) != 1 {
		m = (m + 2) % n
		if m == 0 {
			m = 1
		}
	}
	return m
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// zeta returns sum_{i=1..n} i^-theta, exactly up to 4M terms and with an
// Euler-Maclaurin tail beyond (relative error far below what matters for
// generating ops). Results are cached: every worker of every phase needs it.
func zeta(n uint64, theta float64) float64 {
	key := zetaKey{n, theta}
	if v, ok := zetaCache.Load(key); ok {
		return v.(float64)
	}
	const exact = 1 << 22
	m := min(n, exact)
	sum := 0.0
	for i := uint64(1); i <= m; i++ {
		sum += math.Pow(float64(i), -theta)
	}
	if n > m {
		a, b := float64(m), float64(n)
		sum += (math.Pow(b, 1-theta)-math.Pow(a, 1-theta))/(1-theta) +
			(math.Pow(b, -theta)-math.Pow(a, -theta))/2
	}
	zetaCache.Store(key, sum)
	return sum
}

type zetaKey struct {
	n     uint64
	theta float64
}

var zetaCache sync.Map
