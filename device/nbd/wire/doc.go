// Package wire is the NBD protocol's wire format as both ends use it: the
// magic numbers, options, commands, flags and error values of doc/proto.md,
// request and reply headers, the option exchange of the handshake, and the
// nbd:// and nbd+unix:// URIs.
//
// What it is not: a client or a server (packages device/nbd/client and nbd). It
// holds no state and starts nothing; its parsers never panic on any input
// and bound what they allocate (MaxOption for an option reply). It depends
// on the standard library alone.
package wire
