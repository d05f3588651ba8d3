package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	nbdclient "github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"github.com/snapbench/snapbench/strategies"
)

// serving is snapbench serve running in-process.
type serving struct {
	sock   string
	cancel context.CancelFunc
	done   chan struct{}
	code   int
	out    string
	errOut string
}

// startServe runs snapbench serve --socket in-process until stop.
func startServe(t *testing.T, dev string, volumes ...string) *serving {
	t.Helper()
	s := &serving{sock: filepath.Join(t.TempDir(), "sb.sock"), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	old := serveContext
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	args := []string{"serve", "--device", dev, "--socket", s.sock}
	for _, v := range volumes {
		args = append(args, "--volume", v)
	}
	go func() {
		defer close(s.done)
		s.code, s.out, s.errOut = capture(t, args...)
	}()
	t.Cleanup(func() {
		s.stop(t)
		serveContext = old
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(s.sock); err == nil {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited %d: %s%s", s.code, s.out, s.errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not listen within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the server as SIGINT would and checks that it stopped cleanly.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60 s")
	}
	if s.code != 0 || !strings.HasSuffix(s.out, "stopped\n") {
		t.Errorf("serve exited %d\nstdout: %s\nstderr: %s", s.code, s.out, s.errOut)
	}
}

func (s *serving) uri(name string) string { return wire.FormatURI("unix", s.sock, name) }

// client opens export name of s.
func (s *serving) client(t *testing.T, name string) *nbdclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbdclient.Dial(ctx, "unix", s.sock, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func pattern(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func readAt(t *testing.T, c *nbdclient.Client, off int64, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := c.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	return buf
}

func haveTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// tool runs an external program, bounded to 3 minutes, and fails the test
// if it fails.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = t.TempDir() // fio leaves verify state files in its working directory
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// enginesWith returns the registered engines whose capabilities pass ok.
func enginesWith(t *testing.T, ok func(strategies.Caps) bool) []string {
	var names []string
	for _, name := range strategies.Names() {
		mem := device.MustMem(256 << 20)
		eng, err := strategies.Format(name, mem, strategies.Options{})
		if err != nil {
			t.Logf("engine %s: cannot learn its capabilities, left out: %v", name, err)
			continue
		}
		if ok(eng.Caps()) {
			names = append(names, name)
		}
		eng.Close()
	}
	return names
}

// TestServeFioVerifyOnClone runs fio with verification through NBD on a
// clone, for every engine that clones, and checks that the clone inherited
// its source's data and that the source did not see the clone's writes.
func TestServeFioVerifyOnClone(t *testing.T) {
	for _, engine := range enginesWith(t, func(c strategies.Caps) bool { return c.Clone }) {
		t.Run(engine, func(t *testing.T) {
			dev := formatted(t, engine, "256M")
			mustRun(t, "volume", "create", "--device", dev, "--name", "base", "--size", "64M")
			s := startServe(t, dev, "base")
			base := s.client(t, "base")
			for _, off := range []int64{0, 48 << 20} {
				if _, err := base.WriteAt(pattern(0xb5, 4<<20), off); err != nil {
					t.Fatal(err)
				}
			}
			s.stop(t)
			mustRun(t, "volume", "clone", "--device", dev, "--source", "base", "--name", "vm1")

			s = startServe(t, dev, "base", "vm1")
			// 10 MiB of the clone's 64 MiB: within the delta area that the
			// cow engine gives a clone by default (20% of its source).
			if haveTool("fio") {
				tool(t, "fio", "--name=verify", "--ioengine=nbd", "--uri="+s.uri("vm1"), "--rw=randwrite",
					"--bs=4k", "--iodepth=8", "--size=8M", "--verify=crc32c", "--do_verify=1",
					"--verify_fatal=1", "--verify_backlog=512")
				tool(t, "fio", "--name=verify64k", "--ioengine=nbd", "--uri="+s.uri("vm1"), "--rw=write",
					"--bs=64k", "--iodepth=4", "--offset=8M", "--size=2M", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1")
			} else {
				t.Log("fio not installed: the fio jobs are skipped (apt-get install fio)")
			}
			vm1, base := s.client(t, "vm1"), s.client(t, "base")
			if !bytes.Equal(readAt(t, vm1, 48<<20, 4<<20), pattern(0xb5, 4<<20)) {
				t.Error("the clone does not hold its source's data")
			}
			if !bytes.Equal(readAt(t, base, 0, 4<<20), pattern(0xb5, 4<<20)) {
				t.Error("writes to the clone changed its source")
			}
		})
	}
}

// TestServeImageRoundTrip copies an image into volumes with qemu-img and
// nbdcopy and back out with the other tool, byte for byte.
func TestServeImageRoundTrip(t *testing.T) {
	if !haveTool("qemu-img") || !haveTool("nbdcopy") {
		t.Skip("qemu-img or nbdcopy not installed (apt-get install qemu-utils libnbd-bin)")
	}
	dev := formatted(t, "full", "128M")
	mustRun(t, "volume", "create", "--device", dev, "--name", "a", "--size", "16M")
	mustRun(t, "volume", "create", "--device", dev, "--name", "b", "--size", "16M")
	dir := t.TempDir()
	img := filepath.Join(dir, "image.raw")
	data := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data[:12<<20] { // the last 4 MiB stay zero: sparse in the copies
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(img, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, dev)
	outA, outB := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw")
	tool(t, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", img, s.uri("a"))
	tool(t, "nbdcopy", s.uri("a"), outA)
	tool(t, "nbdcopy", img, s.uri("b"))
	tool(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri("b"), outB)
	for _, out := range []string{outA, outB} {
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from the image copied in", filepath.Base(out))
		}
	}
	if !strings.Contains(tool(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", img, s.uri("a")), "identical") {
		t.Error("qemu-img compare: the volume differs from the image")
	}
}

// TestServeSnapshotWithQemuIO writes a base, snapshots it, overwrites the
// base through NBD and reads the snapshot with qemu-io: it must hold the
// content of the base at the time of the snapshot, and refuse writes.
func TestServeSnapshotWithQemuIO(t *testing.T) {
	if !haveTool("qemu-io") {
		t.Skip("qemu-io not installed (apt-get install qemu-utils)")
	}
	for _, engine := range enginesWith(t, func(c strategies.Caps) bool { return c.Snapshot }) {
		t.Run(engine, func(t *testing.T) {
			dev := formatted(t, engine, "256M")
			mustRun(t, "volume", "create", "--device", dev, "--name", "base", "--size", "32M")
			s := startServe(t, dev, "base")
			tool(t, "qemu-io", "-f", "raw", s.uri("base"), "-c", "write -P 0xaa 0 1M", "-c", "write -P 0xab 5000 3000")
			s.stop(t)
			mustRun(t, "volume", "snapshot", "--device", dev, "--source", "base", "--name", "snap")

			s = startServe(t, dev, "base", "snap")
			tool(t, "qemu-io", "-f", "raw", s.uri("base"), "-c", "write -P 0xbb 0 2M", "-c", "flush")
			out := tool(t, "qemu-io", "-r", "-f", "raw", s.uri("snap"),
				"-c", "read -P 0xaa 0 5000", "-c", "read -P 0xab 5000 3000", "-c", "read -P 0xaa 8000 1040576",
				"-c", "read -P 0 1M 1M")
			if strings.Contains(out, "failed") {
				t.Errorf("the snapshot does not hold the base's old content:\n%s", out)
			}
			if out := tool(t, "qemu-io", "-r", "-f", "raw", s.uri("base"), "-c", "read -P 0xbb 0 2M"); strings.Contains(out, "failed") {
				t.Errorf("the base does not hold its new content:\n%s", out)
			}
			c := s.client(t, "snap")
			if _, err := c.WriteAt(make([]byte, 4096), 0); err == nil || !c.ReadOnly() {
				t.Error("a snapshot is exported writable")
			}
		})
	}
}

// TestServeUsage checks the refusals of serve.
func TestServeUsage(t *testing.T) {
	dev := formatted(t, "full", "64M")
	mustFail(t, 2, "--device is required", "serve", "--socket", "/tmp/x.sock")
	mustFail(t, 2, "not both", "serve", "--device", dev, "--socket", "/tmp/x.sock", "--listen", "127.0.0.1:1")
	mustFail(t, 2, "is not a loopback address", "serve", "--device", dev, "--listen", "0.0.0.0:10809")
	mustFail(t, 2, "is not a loopback address", "serve", "--device", dev, "--listen", ":10809")
	mustFail(t, 2, "want HOST:PORT", "serve", "--device", dev, "--listen", "localhost")
	mustFail(t, 1, "holds no volumes to serve", "serve", "--device", dev, "--socket", filepath.Join(t.TempDir(), "s"))
	mustRun(t, "volume", "create", "--device", dev, "--name", "v", "--size", "1M")
	mustFail(t, 1, `"nope": volume not found`, "serve", "--device", dev, "--volume", "nope", "--socket", filepath.Join(t.TempDir(), "s"))
	mustFail(t, 1, `volume "v" given twice`, "serve", "--device", dev, "--volume", "v", "--volume", "v", "--socket", filepath.Join(t.TempDir(), "s"))
	notSock := writeZeroFile(t, 1)
	mustFail(t, 1, "not a socket is in the way", "serve", "--device", dev, "--socket", notSock)
	s := startServe(t, dev)
	// (not through capture: serve is using stdout meanwhile)
	if _, _, _, err := openEngine(dev, false, false); err == nil || !strings.Contains(err.Error(), "in use by another snapbench command") {
		t.Errorf("opening a served device: %v", err)
	}
	s.stop(t)
	if code, out, _ := capture(t, "serve", "--help"); code != 0 || !strings.Contains(out, "nbd+unix:///NAME?socket=PATH") {
		t.Errorf("serve --help: exit %d\n%s", code, out)
	}
}

// TestHelperProcess is snapbench itself when a test runs it as a child
// process (SNAPBENCH_HELPER_PROCESS=1, arguments after "--").
func TestHelperProcess(t *testing.T) {
	if os.Getenv("SNAPBENCH_HELPER_PROCESS") != "1" {
		t.Skip("runs snapbench for tests that need a child process")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args))
}

// TestServeTCPAndSIGTERM runs serve as a child process on a TCP port it
// picks, uses it, stops it with SIGTERM, and checks the data survived.
func TestServeTCPAndSIGTERM(t *testing.T) {
	dev := formatted(t, "raw", "64M")
	mustRun(t, "volume", "create", "--device", dev, "--name", "disk", "--size", "32M")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "--",
		"serve", "--device", dev, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SNAPBENCH_HELPER_PROCESS=1")
	cmd.WaitDelay = 5 * time.Second
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdoutPipe)
	uriRE := regexp.MustCompile(`nbd://127\.0\.0\.1:[0-9]+/disk`)
	var uri string
	var out strings.Builder
	for uri == "" && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		uri = uriRE.FindString(sc.Text())
	}
	if uri == "" {
		t.Fatalf("serve printed no URI:\n%s%s", out.String(), errOut.String())
	}
	c, err := nbdclient.DialURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteAt(pattern(0x3c, 1<<20), 4<<20); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stdoutPipe)
	out.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "disk         0 reads (0 B), 1 writes (1 MiB)") || !strings.HasSuffix(out.String(), "stopped\n") {
		t.Errorf("serve output:\n%s", out.String())
	}
	eng, _, closeAll, err := openEngine(dev, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	id, _ := strategies.Lookup(eng, "disk")
	vol, err := eng.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	buf := device.Alloc(1 << 20)
	if _, err := vol.ReadAt(buf, 4<<20); err != nil || !bytes.Equal(buf, pattern(0x3c, 1<<20)) {
		t.Errorf("data written through serve is not on the device after SIGTERM (%v)", err)
	}
}
