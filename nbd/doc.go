// Package nbd is the server side of the Network Block Device protocol (the
// NBD project's doc/proto.md), so that real clients — fio's nbd engine,
// qemu-img, qemu-io, nbdcopy, the Linux nbd driver — can drive any snapbench
// volume. The client (device/nbd/client: an NBD export used as a
// device.Device), with which snapbench uses volumes served by others, and
// the wire format and URIs both ends share (device/nbd/wire) live in the
// device layer below this one, so that engines use the client without
// depending on the server. All three depend on device alone.
//
// What it is:
//   - Server: exports device.Devices (engine volumes, usually) under names.
//     Fixed newstyle handshake with NBD_OPT_EXPORT_NAME, LIST, INFO, GO and
//     ABORT; transmission with READ, WRITE (+FUA), FLUSH, TRIM,
//     WRITE_ZEROES and DISC, simple replies, many requests in flight per
//     connection and any number of connections. Unaligned requests are
//     served by read-modify-write. Read-only exports refuse writes with
//     EPERM. Shutdown drains and flushes.
//
// What it is not: TLS, structured replies, block status, metadata contexts
// or extended headers (the server refuses those options and clients carry
// on without them), nor the oldstyle handshake. It is written from the
// protocol description, with no code from other implementations; the
// request and option parsers are fuzzed (FuzzParseRequest,
// FuzzNegotiation) and never allocate more than MaxRequest for a request or
// 64 KiB for an option, whatever a client sends. A connection holds at most
// ServerOptions.MaxInFlightBytes (128 MiB by default) for its requests and
// their replies until they are written; past it the server stops reading the
// connection (backpressure).
package nbd
