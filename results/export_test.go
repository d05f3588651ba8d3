package results

// SetMaxIntervals lowers s's cap on intervals per op (MaxIntervals) so a
// test can reach coarsening with few intervals.
func SetMaxIntervals(s *IntervalSink, n int) { s.max = int64(n) }
