// Package meta holds the on-device metadata primitives that more than one
// engine needs: checksums, a bounds-checked little-endian encoder/decoder that
// never panics on hostile input, and DualSlot, an atomic commit of a
// variable-size record by alternating between two checksummed slots.
package meta
