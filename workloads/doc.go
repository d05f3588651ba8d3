// Package workloads drives engines the way snapshots and clones are really
// used, measures it, and checks every byte read.
//
// What it is:
//
//   - IO patterns (Pattern, Generator): read/write mix, a block size or a
//     weighted split, random or sequential, uniform / zipf / hot-spot
//     distributions, queue depth (concurrent workers), a rate limit, an op
//     count or a duration, a seed. Each worker's stream is a pure function
//     of its seed. Generator.Next does not allocate and takes no lock; the
//     worker loop adds two clock reads, a recorder update and, when
//     verifying, stamping or checking the sectors it moves.
//
//   - Stamps and the oracle: every sector written carries a 32-byte header
//     (magic, writing volume's lineage, offset, generation, payload CRC,
//     header check) and a payload derived from it (see stamp.go). The
//     oracle knows what every volume, snapshots and clones included, must
//     hold, with layers shared the way the engines share chunks, so 1000
//     clones of a template cost 1000 small overlays, not 1000 maps (see
//     oracle.go). Reads are verified (VerifyStamp: headers; VerifyFull:
//     every byte; VerifyOff: pure speed). The first mismatch stops the run
//     with a *MismatchError naming the volume, offset, expected and found
//     stamps and a diagnosis.
//
//   - Scenarios, each a sequence of named, measured phases: snaptree
//     (periodic, deep), clonebush (bursty, wide), overwrite (source write
//     cost against fan-out), chainread (read cost against chain depth),
//     exhaust (behaviour when space runs out), io (a plain pattern, the
//     baseline), and sweep (any of them over a list of values of one
//     parameter, one result per value). Every scenario runs on every
//     engine: an engine whose Caps lack an operation yields a Run with
//     status "unsupported" that keeps the phases that could run.
//
//   - Configuration: NewScenario from key=value pairs (a command line's
//     --set flags via ParseSet), or LoadSpec from a YAML suite file
//     (examples in workloads/specs, also built in: BuiltinSpec). Unknown
//     keys and impossible values are rejected with the key, the value and
//     why (*ParamError), before anything touches a device.
//
// Entry points: RunScenario(ctx, Env, Scenario) runs one scenario on an
// engine the caller formatted and returns a *results.Run; RunSweep runs
// each point of a sweep on a fresh Env.
//
// Determinism: at queue depth 1, without duration or rate limits, the
// sequence of engine calls and device operations depends only on the
// Scenario (seed included) and the engine, so device counters are exactly
// reproducible. At higher queue depths workers own disjoint granules of
// each volume they write (or whole volumes), so verification stays exact
// while their interleaving is up to the scheduler.
//
// What it is not: an engine, a result reader (see results), or a CLI (see
// cmd/snapbench). It never formats a device; it only creates volumes on the
// engine it is given, and leaves them there.
package workloads
