package nbd

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/device/nbd/wire"
)

// startProcess starts a long-running external program that the test stops;
// it is killed when the test ends whatever happens.
func startProcess(t testing.TB, name string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		cancel()
	})
	return cmd, &out
}

// runTool runs an external program to completion (bounded to 2 minutes) and
// returns its combined output.
func runTool(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = t.TempDir() // keep fio's verify state files out of the source tree
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestClientAgainstQemuNbd checks the client against qemu-nbd, a server
// nobody here wrote.
func TestClientAgainstQemuNbd(t *testing.T) {
	needTool(t, "qemu-nbd")
	dir := t.TempDir()
	img, sock := filepath.Join(dir, "img.raw"), filepath.Join(dir, "q.sock")
	const size = 8 << 20
	rng := rand.New(rand.NewPCG(7, 7))
	model := randBytes(rng, size)
	if err := os.WriteFile(img, model, 0o600); err != nil {
		t.Fatal(err)
	}
	qemu, out := startProcess(t, "qemu-nbd", "--socket="+sock, "--export-name=img", "--format=raw",
		"--cache=none", "--aio=native", "--persistent", "--shared=4", img)
	waitForSocket(t, sock, qemu)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := client.List(ctx, "unix", sock)
	if err != nil || len(list) != 1 || list[0].Name != "img" {
		t.Fatalf("List: %+v, %v\n%s", list, err, out)
	}
	c, err := client.Dial(ctx, "unix", sock, "img")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	defer c.Close()
	if c.Size() != size {
		t.Fatalf("size %d, want %d", c.Size(), size)
	}
	lo, pref, hi := c.BlockSizes()
	t.Logf("qemu-nbd block sizes %d/%d/%d; client sector %d", lo, pref, hi, c.SectorSize())
	got := make([]byte, size)
	if _, err := c.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
		t.Fatalf("reading the image through qemu-nbd: %v", err)
	}
	sec := int64(c.SectorSize())
	for i := 0; i < 100; i++ {
		n := (1 + rng.Int64N(32)) * sec
		off := rng.Int64N((size-n)/sec) * sec
		data := randBytes(rng, int(n))
		if _, err := c.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
		copy(model[off:], data)
	}
	if err := c.Zero(64<<10, 128<<10); err != nil {
		t.Fatal(err)
	}
	clear(model[64<<10 : 192<<10])
	if err := c.Discard(1<<20, 1<<20); err != nil { // contents unspecified after
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	copy(got[1<<20:2<<20], model[1<<20:2<<20])
	if !bytes.Equal(got, model) {
		t.Fatal("read back through qemu-nbd differs from what was written")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	copy(file[1<<20:2<<20], model[1<<20:2<<20])
	if !bytes.Equal(file, model) {
		t.Fatal("the image file differs from what was written through qemu-nbd")
	}
}

// TestQemuIOAgainstServer has qemu-io use the server: unaligned writes and
// pattern-checked reads on a writable export, reads of a read-only one and a
// refused write to it.
func TestQemuIOAgainstServer(t *testing.T) {
	needTool(t, "qemu-io")
	rw, ro := newMem(t, 4<<20, 4096), newMem(t, 4<<20, 512)
	fill := device4k(0x11)
	for off := int64(0); off < 1<<20; off += 4096 {
		if _, err := ro.WriteAt(fill, off); err != nil {
			t.Fatal(err)
		}
	}
	ts := startServer(t, []Export{{Name: "rw", Device: rw}, {Name: "ro", Device: ro, ReadOnly: true}}, ServerOptions{})
	uri := wire.FormatURI("unix", ts.sock, "rw")
	out, err := runTool(t, "qemu-io", "-f", "raw", uri,
		"-c", "write -P 0x5a 1000 3000", "-c", "read -P 0x5a 1000 3000", "-c", "read -P 0 0 1000",
		"-c", "write -z 8192 8192", "-c", "read -P 0 8192 8192", "-c", "flush")
	if err != nil || strings.Contains(out, "fail") || strings.Contains(out, "error") {
		t.Fatalf("qemu-io on rw: %v\n%s", err, out)
	}
	buf := device4k(0)
	if _, err := rw.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[1000:4000], bytes.Repeat([]byte{0x5a}, 3000)) || buf[999] != 0 || buf[4000] != 0 {
		t.Fatalf("the device does not hold what qemu-io wrote")
	}
	out, err = runTool(t, "qemu-io", "-r", "-f", "raw", wire.FormatURI("unix", ts.sock, "ro"), "-c", "read -P 0x11 4096 65536")
	if err != nil || strings.Contains(out, "fail") {
		t.Fatalf("qemu-io read of ro: %v\n%s", err, out)
	}
	out, _ = runTool(t, "qemu-io", "-f", "raw", wire.FormatURI("unix", ts.sock, "ro"), "-c", "write -P 1 0 4096")
	if !strings.Contains(out, "Permission denied") && !strings.Contains(out, "Operation not permitted") {
		t.Fatalf("qemu-io wrote to a read-only export:\n%s", out)
	}
	if _, err := ro.ReadAt(buf, 0); err != nil || buf[0] != 0x11 {
		t.Fatal("a read-only export was modified")
	}
}

// device4k returns an aligned 4 KiB buffer filled with b.
func device4k(b byte) []byte {
	buf := device.Alloc(4096)
	for i := range buf {
		buf[i] = b
	}
	return buf
}

// TestNbdinfo checks what libnbd's nbdinfo sees of the server.
func TestNbdinfo(t *testing.T) {
	needTool(t, "nbdinfo")
	ts := startServer(t, []Export{
		{Name: "one", Description: "first export", Device: newMem(t, 4<<20, 4096)},
		{Name: "two", Device: newMem(t, 2<<20, 512), ReadOnly: true, PreferredBlockSize: 65536},
	}, ServerOptions{})
	out, err := runTool(t, "nbdinfo", "--list", wire.FormatURI("unix", ts.sock, ""))
	if err != nil || !strings.Contains(out, "export=\"one\"") || !strings.Contains(out, "export=\"two\"") || !strings.Contains(out, "first export") {
		t.Fatalf("nbdinfo --list: %v\n%s", err, out)
	}
	out, err = runTool(t, "nbdinfo", "--json", wire.FormatURI("unix", ts.sock, "two"))
	if err != nil {
		t.Fatalf("nbdinfo --json: %v\n%s", err, out)
	}
	var info struct {
		Protocol string `json:"protocol"`
		Exports  []struct {
			Name     string `json:"export-name"`
			Size     int64  `json:"export-size"`
			ReadOnly bool   `json:"is_read_only"`
			Flush    bool   `json:"can_flush"`
			FUA      bool   `json:"can_fua"`
			Multi    bool   `json:"can_multi_conn"`
			Min      int    `json:"block_size_minimum"`
			Pref     int    `json:"block_size_preferred"`
			Max      int    `json:"block_size_maximum"`
		} `json:"exports"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || len(info.Exports) != 1 {
		t.Fatalf("nbdinfo --json: %v\n%s", err, out)
	}
	e := info.Exports[0]
	if info.Protocol != "newstyle-fixed" || e.Name != "two" || e.Size != 2<<20 || !e.ReadOnly || !e.Flush || !e.FUA ||
		!e.Multi || e.Min != 512 || e.Pref != 65536 || e.Max != MaxRequest {
		t.Errorf("nbdinfo sees %+v (protocol %s)", e, info.Protocol)
	}
}
