package results

import (
	"math"
	"slices"
	"sort"
)

// This file holds the statistics the tables and compare use across trials:
// median and quantiles, the min–max spread, and the Mann–Whitney U test
// that decides whether two sets of trials differ (benchstat's approach).
// Every function is pure, safe for concurrent use, and leaves its inputs
// unchanged.

// Alpha is the significance level of Separate and of compare's timing test.
const Alpha = 0.05

// Median is the middle value of xs (the mean of the two middle values for an
// even count); NaN for no values. O(n log n).
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quantile is the q-quantile (0 ≤ q ≤ 1) of xs by linear interpolation
// between order statistics (Hyndman & Fan type 7, R's default); NaN for no
// values or q outside [0, 1]. O(n log n).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 || q < 0 || q > 1 || math.IsNaN(q) {
		return math.NaN()
	}
	s := sortedFloats(xs)
	h := float64(len(s)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Spread summarises a set of trial values: median and range.
type Spread struct {
	N        int
	Median   float64
	Min, Max float64
}

// SpreadOf returns the median, minimum and maximum of xs (zero Spread for
// no values).
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := sortedFloats(xs)
	return Spread{N: len(s), Median: Median(s), Min: s[0], Max: s[len(s)-1]}
}

// Exact reports whether every value of the spread is the same.
func (s Spread) Exact() bool { return s.Min == s.Max }

// MannWhitney is the two-sided Mann–Whitney U (Wilcoxon rank-sum) test of
// x against y, computed as R's wilcox.test(x, y) does: U is the statistic of
// x (its rank sum minus nx(nx+1)/2, ties given mid-ranks); the p-value is
// exact when there are no ties and both samples have fewer than 50 values,
// else from the normal approximation with tie and continuity correction.
// With an empty sample p is 1. O((nx+ny) log(nx+ny)), plus O(nx·ny·(nx+ny))
// for the exact distribution.
func MannWhitney(x, y []float64) (u, p float64) {
	nx, ny := len(x), len(y)
	if nx == 0 || ny == 0 {
		return 0, 1
	}
	type obs struct {
		v  float64
		fx bool
	}
	all := make([]obs, 0, nx+ny)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankX, tieTerm float64
	ties := false
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		t := float64(j - i)
		mid := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if all[k].fx {
				rankX += mid
			}
		}
		if j-i > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j
	}
	u = rankX - float64(nx*(nx+1))/2
	fx, fy := float64(nx), float64(ny)
	if !ties && nx < 50 && ny < 50 {
		w := int(math.Round(u))
		var tail float64
		if u > fx*fy/2 {
			tail = 1 - uCDF(w-1, nx, ny) // P(U ≥ u)
		} else {
			tail = uCDF(w, nx, ny) // P(U ≤ u)
		}
		return u, math.Min(1, 2*tail)
	}
	z := u - fx*fy/2
	n := fx + fy
	sigma := math.Sqrt(fx * fy / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	if sigma == 0 {
		return u, 1 // every value equal
	}
	corr := 0.5
	if z < 0 {
		corr = -0.5
	} else if z == 0 {
		corr = 0
	}
	z = (z - corr) / sigma
	p = 2 * math.Min(normCDF(z), 1-normCDF(z))
	return u, math.Min(1, p)
}

// uCDF is P(U ≤ w) for the Mann–Whitney statistic of samples of sizes m
// and n without ties.
func uCDF(w, m, n int) float64 {
	if w < 0 {
		return 0
	}
	f := uFrequencies(m, n)
	var below, total float64
	for k, c := range f {
		total += c
		if k <= w {
			below += c
		}
	}
	return below / total
}

// uFrequencies returns, for k = 0..m·n, the number of arrangements of m x's
// and n y's in which exactly k (x, y) pairs have x > y. Recurrence:
// f(m, n, k) = f(m-1, n, k-n) + f(m, n-1, k) (the largest value is an x,
// which beats all n y's, or a y).
func uFrequencies(m, n int) []float64 {
	// prev[j] holds f(i-1, j, ·); cur[j] builds f(i, j, ·).
	prev := make([][]float64, n+1)
	for j := range prev {
		prev[j] = []float64{1} // f(0, j, 0) = 1
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1} // f(i, 0, 0) = 1
		for j := 1; j <= n; j++ {
			row := make([]float64, i*j+1)
			for k := range row {
				if k-j >= 0 && k-j < len(prev[j]) {
					row[k] += prev[j][k-j]
				}
				if k < len(cur[j-1]) {
					row[k] += cur[j-1][k]
				}
			}
			cur[j] = row
		}
		prev = cur
	}
	return prev[n]
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// MinPValue is the smallest two-sided p-value the exact Mann–Whitney test
// can give for samples of sizes m and n: 2/C(m+n, m). Below Alpha only from
// 4 values a side (2/70), or 3 against 5 (2/56).
func MinPValue(m, n int) float64 {
	if m == 0 || n == 0 {
		return 1
	}
	c := 1.0
	for i := 1; i <= m; i++ {
		c = c * float64(n+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// Verdict is how two sets of trial values compare.
type Verdict int

// Verdicts of Separate.
const (
	Same   Verdict = iota // the spreads cannot be told apart ("~")
	Lower                 // the first set is lower
	Higher                // the first set is higher
)

// Separate decides whether x and y differ. With enough trials for the
// Mann–Whitney test to reach Alpha (MinPValue(len(x), len(y)) < Alpha) they
// differ when p < Alpha; with fewer, when their min–max ranges do not
// overlap (with one value a side: when the values differ). The direction is
// that of the medians. method names the rule used ("U test", "ranges").
func Separate(x, y []float64) (v Verdict, p float64, method string) {
	if len(x) == 0 || len(y) == 0 {
		return Same, 1, "no data"
	}
	dir := Lower
	if Median(x) > Median(y) {
		dir = Higher
	}
	if MinPValue(len(x), len(y)) < Alpha {
		_, p = MannWhitney(x, y)
		if p < Alpha && Median(x) != Median(y) {
			return dir, p, "U test"
		}
		return Same, p, "U test"
	}
	sx, sy := SpreadOf(x), SpreadOf(y)
	if sx.Max < sy.Min || sy.Max < sx.Min {
		return dir, math.NaN(), "ranges"
	}
	return Same, math.NaN(), "ranges"
}

func sortedFloats(xs []float64) []float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s
}
