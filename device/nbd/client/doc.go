// Package client is snapbench's NBD client: Client is one connection to one
// export of an NBD server (snapbench's own, qemu-nbd, nbdkit, ...) used as a
// device.Device, with Discarder and Zeroer, and many requests in flight on
// the connection. Dial and DialURI connect; List lists a server's exports.
//
// What it is not: TLS, structured replies or block status (it negotiates
// simple replies), nor a server (package nbd, above the engines). It
// depends on device and device/nbd/wire only and sits in the device layer,
// so engines (the qcow2 peer reaches qemu-nbd through it) use it without
// depending on the server.
package client
