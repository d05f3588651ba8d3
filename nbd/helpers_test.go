package nbd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/device/nbd/wire"
)

// testServer is a Server listening on a unix socket in a temporary directory.
type testServer struct {
	*Server
	sock   string
	served chan error
}

// startServer serves exports on a fresh unix socket until the test ends.
func startServer(t testing.TB, exports []Export, opts ServerOptions) *testServer {
	t.Helper()
	s, err := NewServer(exports, opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, sock: sock, served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-ts.served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ts
}

// dial opens export name of ts; the client is closed when the test ends.
func (ts *testServer) dial(t testing.TB, name string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "unix", ts.sock, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newMem returns an in-memory device.
func newMem(t testing.TB, size int64, sector int) *device.Mem {
	t.Helper()
	m, err := device.NewMem(size, device.MemOptions{SectorSize: sector})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rawConn is a client connection driven byte by byte by a test.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialRaw connects to ts and reads the greeting, replying with cflags.
func (ts *testServer) dialRaw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { nc.Close() })
	rc := &rawConn{Conn: nc, br: bufio.NewReader(nc)}
	hflags, err := wire.ClientGreeting(nc, rc.br)
	if err != nil {
		t.Fatal(err)
	}
	if hflags != wire.FlagFixedNewstyle|wire.FlagNoZeroes {
		t.Fatalf("handshake flags %#x", hflags)
	}
	return rc
}

// syncBuffer is a goroutine-safe bytes sink for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, []byte(fmt.Sprintf(format, args...)+"\n")...)
}

// needTool skips the test when an external program is missing.
func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (Debian: apt-get install fio qemu-utils libnbd-bin)", n)
		}
	}
}

// waitForSocket waits until path exists (a server started listening).
func waitForSocket(t testing.TB, path string, proc *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if proc != nil && proc.ProcessState != nil {
			t.Fatalf("%s exited before listening", proc.Path)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no socket at %s after 20 s", path)
}
