//go:build !race

package strategytest

// raceEnabled: this test binary runs under the race detector.
const raceEnabled = false
