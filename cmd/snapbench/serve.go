package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"github.com/snapbench/snapbench/nbd"
	"github.com/snapbench/snapbench/strategies"
)

func init() {
	registerVerb(verb{name: "serve", summary: "serve volumes over NBD to fio, qemu-img, qemu-io, nbdcopy, nbd-client", run: runServe})
}

const serveHelp = `
Serve volumes of the engine on a device over the NBD protocol, so that tools
that speak it can use them: fio (--ioengine=nbd --uri=URI), qemu-img and
qemu-io (the URI as file name), nbdcopy, nbdinfo, or the kernel's nbd-client.
Each --volume becomes an export of that name; without --volume, every valid
volume is exported. Snapshots are exported read-only, and so is everything with
--read-only.

Listen on a unix socket (--socket PATH) or on TCP (--listen HOST:PORT,
default 127.0.0.1:10809; port 0 picks a free one). NBD has neither
authentication nor encryption: the address must be a loopback one unless
--allow-remote.

On start, serve prints each export with its URI:
  nbd+unix:///NAME?socket=PATH     for --socket
  nbd://127.0.0.1:PORT/NAME        for --listen
Clients may send many requests at once, over several connections, at any
byte offset (unaligned IO costs a read-modify-write). serve runs until SIGINT
(Ctrl-C) or SIGTERM, then stops accepting, answers the requests in progress,
flushes the engine, closes the device and prints what was served; that is
its normal end, exit code 0 (an export the engine's policy invalidated, as
cow does with a snapshot whose delta area overflowed, is noted, not a
failure). Meanwhile the device is locked against other snapbench commands
(a shared lock with --read-only, which opens the device read-only: an
immutable file or a read-only block device can be served).

Example:
  snapbench serve --device sb.img --volume vm1 --socket /tmp/sb.sock &
  fio --name=t --ioengine=nbd --uri='nbd+unix:///vm1?socket=/tmp/sb.sock' \
      --rw=randwrite --bs=4k --iodepth=8 --size=256M --verify=crc32c`

// serveContext is cancelled when serve must stop; tests replace it.
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// serve's default IO path is psync: through fio's nbd engine on a raw
// volume of a sparse file (2-core VM, 3 interleaved rounds of 5 s, median
// IOPS), psync and uring served 4 KiB random reads alike (QD1 2801 and 2529,
// QD16 8499 and 9719) and psync wrote faster at QD16 (8084 against 5791):
// the file system allocates blocks for writes into holes inline, and
// io_uring hands such writes to its kernel workers. qemu-nbd --aio=native
// got 2295, 6229, 1395 (QD1 writes) and 5471 in the same rounds.
//
// serveMinProcs is the least GOMAXPROCS serve runs with on the psync IO
// path. A worker of the server blocked in pread or pwrite holds its P until the runtime's sysmon
// hands it off (20 µs to 10 ms), so with one P per core (2 on a small VM)
// a few slow device writes stop the connection's reader and the other
// workers. Measured with fio's nbd engine against qemu-nbd on a 2-core VM,
// 4 KiB randwrite at QD16: 0.77x with 2 Ps, 0.94x with 4, 1.15x with 8.
const serveMinProcs = 8

// setServeProcs raises GOMAXPROCS to serveMinProcs unless the user set it,
// and returns what restores it.
func setServeProcs() func() {
	prev := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" || prev >= serveMinProcs {
		return func() {}
	}
	runtime.GOMAXPROCS(serveMinProcs)
	return func() { runtime.GOMAXPROCS(prev) }
}

func runServe(args []string) int {
	fs := newFlags("serve", "serve --device PATH [--volume NAME ...] [--socket PATH | --listen HOST:PORT]", serveHelp)
	path := fs.String("device", "", "formatted device or file (required)")
	volumes := fs.StringArray("volume", nil, "volume to export (repeat for several; default: all)")
	socket := fs.String("socket", "", "listen on this unix socket")
	listen := fs.String("listen", "", "listen on this TCP address (default 127.0.0.1:10809)")
	allowRemote := fs.Bool("allow-remote", false, "allow a --listen address that is not loopback")
	readOnly := fs.Bool("read-only", false, "export every volume read-only")
	force := fs.Bool("force", false, "override the device safety rules (see snapbench devices)")
	verbose := fs.Bool("verbose", false, "log connections that end in an error to stderr")
	ioEngine := fs.String("io-engine", "psync", "how the device does IO: psync (pread/pwrite, GOMAXPROCS raised to 8), uring (io_uring: waiting requests hold no thread) or auto (uring where the kernel allows it)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError("serve", "unexpected argument %q", fs.Arg(0))
	case *path == "":
		return usageError("serve", "--device is required")
	case *socket != "" && *listen != "":
		return usageError("serve", "give --socket or --listen, not both")
	}
	wantIO, err := device.ParseIOEngine(*ioEngine)
	if err != nil {
		return usageError("serve", "--io-engine: %v", err)
	}
	network, address := "unix", *socket
	if *socket == "" {
		network, address = "tcp", *listen
		if address == "" {
			address = "127.0.0.1:" + wire.DefaultPort
		}
		if err := checkLoopback(address, *allowRemote); err != nil {
			return usageError("serve", "%v", err)
		}
	}

	eng, dev, closeAll, err := openEngine(*path, *force, *readOnly)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	usedIO := device.IOEnginePsync
	if f, ok := dev.(*device.File); ok {
		// Nothing is in flight yet: the engine has only read its metadata.
		if usedIO, err = f.SetIOEngine(wantIO); err != nil {
			return fail(fmt.Errorf("--io-engine %s: %w", wantIO, err))
		}
	}
	sb, err := strategies.ReadSuperblock(dev)
	if err != nil {
		return fail(err)
	}
	exports, infos, closeVolumes, err := openExports(eng, sb.Options.ChunkSize, *volumes, *readOnly)
	if err != nil {
		return fail(err)
	}
	defer closeVolumes()
	opts := nbd.ServerOptions{}
	if *verbose {
		opts.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	srv, err := nbd.NewServer(exports, opts)
	if err != nil {
		return fail(err)
	}
	l, err := listenNBD(network, address)
	if err != nil {
		return fail(err)
	}
	address = l.Addr().String()
	fmt.Fprintf(stdout, "serving %d export(s) of engine %s on %s (IO engine %s) over %s %s\n", len(exports), eng.Name(), *path, usedIO, network, address)
	for i, x := range exports {
		mode := "read-write"
		if x.ReadOnly {
			mode = "read-only"
		}
		fmt.Fprintf(stdout, "  %-12s %-8s %9s  %-10s  %s\n", x.Name, infos[i].Kind, humanBytes(infos[i].Size), mode,
			wire.FormatURI(network, address, x.Name))
	}
	fmt.Fprintln(stdout, "Ctrl-C or SIGTERM stops the server")

	if usedIO == device.IOEnginePsync {
		defer setServeProcs()()
	} else {
		defer device.ProcsFor(usedIO, 1)() // the ring thread's P
	}
	ctx, stop := serveContext()
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	stop() // a second Ctrl-C now kills at once
	fmt.Fprintln(stdout, "stopping: answering requests in progress, flushing")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	invalidated, shutErr := splitInvalidated(srv.Shutdown(sctx))
	err = errors.Join(shutErr, eng.Flush())
	for _, e := range invalidated {
		// The engine's policy (cow: a delta area that overflowed), not a
		// failure of serve: the clients saw the errors; say it and exit 0.
		fmt.Fprintf(stdout, "note: %s\n", oneLine(e.Error()))
	}
	if serveErr != nil && !errors.Is(serveErr, nbd.ErrServerClosed) {
		err = errors.Join(fmt.Errorf("listener failed: %w", serveErr), err)
	}
	for _, x := range exports {
		st := srv.Stats()[x.Name]
		fmt.Fprintf(stdout, "  %-12s %d reads (%s), %d writes (%s), %d flushes, %d trims+zeroes, %d unaligned, %d errors\n",
			x.Name, st.Reads, humanBytes(st.ReadBytes), st.Writes, humanBytes(st.WriteBytes), st.Flushes,
			st.Trims+st.Zeroes, st.RMWs, st.Errors)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, "stopped")
	return 0
}

// splitInvalidated separates, in an error (possibly joined), the errors
// that only say a volume was invalidated by its engine's policy
// (strategies.ErrInvalidated) from the others.
func splitInvalidated(err error) (invalidated []error, rest error) {
	if err == nil {
		return nil, nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var others []error
	for _, e := range errs {
		if errors.Is(e, strategies.ErrInvalidated) {
			invalidated = append(invalidated, e)
		} else {
			others = append(others, e)
		}
	}
	return invalidated, errors.Join(others...)
}
