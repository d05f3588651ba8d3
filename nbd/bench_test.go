package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/raw"
)

// BenchmarkFioRawVsQemuNbd runs the same fio jobs (4 KiB random reads, then
// random writes, iodepth 8, direct, 15 s per run; SNAPBENCH_FIO_RUNTIME
// overrides the duration) through fio's nbd engine against this package's
// server exporting a raw-engine volume, and against qemu-nbd --cache=none
// --aio=native (SNAPBENCH_QEMU_AIO=threads or io_uring to change) serving a
// raw file of the same size on the same file system. Both are prefilled
// first so reads hit written blocks. It reports both IOPS (mean of two runs
// each) and their ratio (snapbench/qemu-nbd; 1.0 means as fast as
// qemu-nbd). It takes about 2 minutes.
//
//	go test -run '^$' -bench FioRawVsQemuNbd -benchtime 1x ./nbd
func BenchmarkFioRawVsQemuNbd(b *testing.B) {
	needTool(b, "fio", "qemu-nbd")
	runtime := 15
	if s := os.Getenv("SNAPBENCH_FIO_RUNTIME"); s != "" {
		runtime, _ = strconv.Atoi(s)
	}
	const size = 256 << 20
	dir := b.TempDir()

	// snapbench: a raw engine on a file, its one volume served on a socket.
	dev, err := device.Open(filepath.Join(dir, "snapbench.dev"), device.Options{Size: size + 2*strategies.ReservedBytes + 1<<20})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	eng, err := strategies.Format("raw", dev, strategies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	id, err := eng.Create("bench", size)
	if err != nil {
		b.Fatal(err)
	}
	vol, err := eng.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	defer vol.Close()
	srv, err := NewServer([]Export{{Name: "bench", Device: vol}}, ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(dir, "snapbench.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	// qemu-nbd: a raw file of the same size.
	img := filepath.Join(dir, "qemu.raw")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		b.Fatal(err)
	}
	qsock := filepath.Join(dir, "qemu.sock")
	aio := "native"
	if s := os.Getenv("SNAPBENCH_QEMU_AIO"); s != "" {
		aio = s // threads, io_uring
	}
	qemu, _ := startProcess(b, "qemu-nbd", "--socket="+qsock, "--export-name=bench", "--format=raw",
		"--cache=none", "--aio="+aio, "--persistent", "--shared=8", img)
	waitForSocket(b, qsock, qemu)

	targets := []struct{ name, uri string }{
		{"snapbench", wire.FormatURI("unix", sock, "bench")},
		{"qemu-nbd", wire.FormatURI("unix", qsock, "bench")},
	}
	for _, tg := range targets {
		if _, err := runFio(b, tg.uri, "write", "1M", 32, 0); err != nil {
			b.Fatalf("prefill %s: %v", tg.name, err)
		}
	}
	// Each job runs on each server twice, in the order A B B A, so that a
	// drift of the machine (other tenants, the host's cache) favours neither.
	for _, rw := range []string{"randread", "randwrite"} {
		iops := map[string]float64{}
		for _, i := range []int{0, 1, 1, 0} {
			tg := targets[i]
			v, err := runFio(b, tg.uri, rw, "4k", 8, runtime)
			if err != nil {
				b.Fatalf("%s %s: %v", tg.name, rw, err)
			}
			iops[tg.name] += v / 2
		}
		for _, tg := range targets {
			b.ReportMetric(iops[tg.name], tg.name+"-"+rw+"-iops")
		}
		ratio := iops["snapbench"] / iops["qemu-nbd"]
		b.ReportMetric(ratio, rw+"-ratio")
		b.Logf("%s: snapbench %.0f IOPS, qemu-nbd (--aio=%s) %.0f IOPS, ratio %.2f", rw, iops["snapbench"], aio, iops["qemu-nbd"], ratio)
	}
}

// runFio runs one fio job through the nbd engine and returns its IOPS. A
// runtime of 0 runs the job once over the whole export.
func runFio(b *testing.B, uri, rw, bs string, depth, runtime int) (float64, error) {
	args := []string{"--name=" + rw, "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw, "--bs=" + bs,
		"--iodepth=" + strconv.Itoa(depth), "--direct=1", "--output-format=json"}
	if runtime > 0 {
		args = append(args, "--time_based", "--runtime="+strconv.Itoa(runtime))
	}
	b.Logf("fio %s", shellJoin(args))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runtime+120)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fio", args...)
	cmd.Dir = b.TempDir()
	cmd.WaitDelay = 5 * time.Second
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.b)
	}
	var res struct {
		Jobs []struct {
			Read  struct{ IOPS float64 } `json:"read"`
			Write struct{ IOPS float64 } `json:"write"`
		} `json:"jobs"`
	}
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:] // the nbd engine prints "fio: connected to NBD server" first
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Jobs) != 1 {
		return 0, fmt.Errorf("fio output: %v\n%s", err, out)
	}
	return res.Jobs[0].Read.IOPS + res.Jobs[0].Write.IOPS, nil
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 64<<10 {
		l.b = append(l.b, p[:min(len(p), 64<<10-len(l.b))]...)
	}
	return len(p), nil
}

func shellJoin(args []string) string {
	s := ""
	for _, a := range args {
		s += " '" + a + "'"
	}
	return s[1:]
}

// BenchmarkClientRead4k measures the client and server together over a
// unix socket on a memory device: the protocol's own cost per 4 KiB read.
func BenchmarkClientRead4k(b *testing.B) {
	ts := startServer(b, []Export{{Name: "m", Device: newMem(b, 64<<20, 512)}}, ServerOptions{})
	c := ts.dial(b, "m")
	b.SetBytes(4096)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		off := int64(0)
		for pb.Next() {
			if _, err := c.ReadAt(buf, off); err != nil {
				b.Error(err)
				return
			}
			off = (off + 4096) % (64 << 20)
		}
	})
}

// BenchmarkServerLoop measures the server's request loop: a lean client
// keeps depth 4 KiB requests in flight on one unix-socket connection
// (pipelined, one goroutine sending and one reading replies) against an
// export of a memory device, so that what is timed is the server's
// per-request cost (parsing, dispatch, reply writing, system calls), not a
// disk. ns/op is per request.
//
//	go test -run '^$' -bench ServerLoop -count 6 ./nbd
func BenchmarkServerLoop(b *testing.B) {
	for _, bc := range []struct {
		name  string
		typ   uint16
		depth int
	}{
		{"read/QD1", wire.CmdRead, 1},
		{"read/QD16", wire.CmdRead, 16},
		{"write/QD1", wire.CmdWrite, 1},
		{"write/QD16", wire.CmdWrite, 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const size = 64 << 20
			ts := startServer(b, []Export{{Name: "m", Device: newMem(b, size, 512)}}, ServerOptions{})
			rc := ts.dialRaw(b)
			rc.SetDeadline(time.Time{})
			if err := wire.SendOption(rc, wire.OptExportName, []byte("m")); err != nil {
				b.Fatal(err)
			}
			var ex [10]byte
			if _, err := io.ReadFull(rc.br, ex[:]); err != nil {
				b.Fatal(err)
			}
			tokens := make(chan struct{}, bc.depth)
			for range bc.depth {
				tokens <- struct{}{}
			}
			done := make(chan error, 1)
			go func() { // replies
				var h [wire.SimpleReplyLen]byte
				data := make([]byte, 4096)
				for i := 0; i < b.N; i++ {
					if _, err := io.ReadFull(rc.br, h[:]); err != nil {
						done <- err
						return
					}
					if e := binary.BigEndian.Uint32(h[4:]); e != 0 {
						done <- fmt.Errorf("errno %d", e)
						return
					}
					if bc.typ == wire.CmdRead {
						if _, err := io.ReadFull(rc.br, data); err != nil {
							done <- err
							return
						}
					}
					tokens <- struct{}{}
				}
				done <- nil
			}()
			msg := make([]byte, wire.RequestLen+4096)
			b.SetBytes(4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				<-tokens
				off := uint64(i*4096) % size
				wire.PutRequest(msg, wire.Request{Type: bc.typ, Handle: uint64(i), Offset: off, Length: 4096})
				m := msg[:wire.RequestLen]
				if bc.typ == wire.CmdWrite {
					m = msg
				}
				if _, err := rc.Write(m); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
