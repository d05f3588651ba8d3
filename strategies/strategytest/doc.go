// Package strategytest is the conformance and crash suite that every engine
// runs: scripted cases, seeded random operation sequences checked step by step
// against a reference model, crash tests on a device.Mem that loses unflushed
// writes, capability checks, and a concurrency stress for the race detector.
// After every case the engine's Check must pass.
//
// An engine's test calls Run(t, Config{Engine: "name"}). A failing random
// sequence prints its seed and the shortest failing prefix found; replay it
// with
//
//	go test ./strategies/<engine> -run Conformance -strategytest.seed=N -v
//
// The default budget is sized for make test, which runs it under the race
// detector at half the sequences and crash points (plain go test runs them
// all). Set -strategytest.long (or SNAPBENCH_LONG=1) for 100 times more.
package strategytest
