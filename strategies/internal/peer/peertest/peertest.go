// Package peertest runs the real-system peer engines through the shared
// conformance suite, on sparse files in the test's temporary directory,
// and checks what only peers have: a file system mounted and a loop device
// attached while the engine is open, and neither after Close.
package peertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// DeviceSize of the sparse files the peers are tested on: big enough for
// mkfs.xfs (300 MB at least) and mkfs.btrfs without mixed block groups.
const DeviceSize = 512 << 20

// Skip skips t when requirements (an engine's Requirements) say the
// machine cannot run the engine.
func Skip(t *testing.T, requirements func() error) {
	t.Helper()
	if err := requirements(); err != nil {
		t.Skipf("%v", err)
	}
}

// NewDevice returns a function that makes a new sparse file device in dir
// at each call.
func NewDevice(dir string) func() (device.Device, error) {
	var n atomic.Int64
	return func() (device.Device, error) {
		path := filepath.Join(dir, fmt.Sprintf("dev%d.img", n.Add(1)))
		return device.Open(path, device.Options{Size: DeviceSize})
	}
}

// Config is the reduced conformance budget for a peer: a few random
// sequences (each formats a real file system) and no crash tests.
func Config(t *testing.T, engine string, requirements func() error) strategytest.Config {
	t.Helper()
	Skip(t, requirements)
	newDev := NewDevice(t.TempDir())
	probe, err := newDev()
	if err != nil {
		t.Fatal(err)
	}
	sector := probe.SectorSize()
	probe.Close()
	return strategytest.Config{
		Engine:         engine,
		SectorSize:     sector,
		NewDevice:      newDev,
		Sequences:      20,
		OpsPerSequence: 40,
		MaxVolumes:     6,
		NoCrash:        "a kernel file system keeps its own state and caches; dropping a memory device's unflushed writes cannot crash it",
	}
}

// Lifecycle formats engine on a file, checks that it is mounted while open,
// reopens it with strategies.Open, checks IO counters, and that Close
// leaves no mount and no loop device behind.
func Lifecycle(t *testing.T, engine string, requirements func() error) {
	Skip(t, requirements)
	dev, err := NewDevice(t.TempDir())()
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	e, err := strategies.Format(engine, dev, strategies.Options{})
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	loops := attachedTo(t, dev)
	if len(loops) != 1 {
		t.Errorf("%d loop devices on the device file while the engine is open; want 1", len(loops))
	}
	id, err := e.Create("base", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	data := device.Alloc(1 << 20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := v.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	if st, ok := e.(strategies.Statser); !ok {
		t.Errorf("%s does not report its file system's IO (Statser)", engine)
	} else if s := st.Stats(); s["fs_write_bytes"] < 1<<20 {
		t.Errorf("Stats = %v; want at least the 1 MiB written", s)
	}
	if _, err := e.Snapshot(id, "snap"); err != nil && !errors.Is(err, strategies.ErrUnsupported) {
		t.Fatal(err)
	}
	if sp := e.Space(); sp.Capacity <= 0 || sp.Data+sp.Metadata+sp.Free != sp.Capacity {
		t.Errorf("Space = %+v", sp)
	}
	// Close with a handle still open: Close must release it and unmount.
	root := ""
	if r, ok := e.(interface{ Root() string }); ok {
		root = r.Root()
	}
	if !mounted(t, root) {
		t.Errorf("the engine's file system is not mounted at %q while open", root)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(attachedTo(t, dev)); n != 0 {
		t.Errorf("%d loop devices still attached after Close", n)
	}
	if mounted(t, root) {
		t.Errorf("%s still mounted after Close", root)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point %s left after Close (%v)", root, err)
	}

	e, err = strategies.Open(dev)
	if err != nil {
		t.Fatalf("strategies.Open after Close: %v", err)
	}
	defer e.Close()
	if e.Name() != engine {
		t.Fatalf("strategies.Open found engine %q", e.Name())
	}
	if err := e.Check(); err != nil {
		t.Fatalf("Check after reopen: %v", err)
	}
	v, err = e.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	got := device.Alloc(1 << 20)
	if _, err := v.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("data differs after reopen")
	}
	v.Close()
}

// attachedTo lists loop devices whose backing file is dev's file.
func attachedTo(t *testing.T, dev device.Device) []string {
	t.Helper()
	return device.LoopsOver(device.Describe(dev).Path)
}

// mounted reports whether dir is a mount point.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); dir != "" && len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}
