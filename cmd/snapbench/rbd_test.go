package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/rbd"
)

// TestServeFioVerifyOnRBDClone serves an RBD layered clone over NBD and
// runs fio with verification on it: the clone's writes copy up whole
// objects from the parent's snapshot in the cluster, and the source must
// not see them. Then snapbench check, and every volume deleted through
// the engine (clones first), so the pool is left as it was. Needs a
// cluster: SNAPBENCH_CEPH_CONF (ci/ceph-cluster.sh start DIR).
func TestServeFioVerifyOnRBDClone(t *testing.T) {
	if err := rbd.Requirements(); err != nil {
		t.Skipf("%v", err)
	}
	if os.Getenv("SNAPBENCH_CEPH_CONF") == "" {
		t.Skip("rbd: no cluster: set SNAPBENCH_CEPH_CONF (and SNAPBENCH_CEPH_POOL), e.g. from ci/ceph-cluster.sh start DIR")
	}
	dev := filepath.Join(t.TempDir(), "sb.img")
	prefix := fmt.Sprintf("sbcli%d", time.Now().UnixNano()%1e6)
	mustRun(t, "format", "--device", dev, "--size", "16M", "--engine", "rbd", "--opt", "prefix="+prefix+",order=20")
	t.Cleanup(func() { deleteAll(t, dev) })
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
	if haveTool("fio") {
		tool(t, "fio", "--name=verify", "--ioengine=nbd", "--uri="+s.uri("vm1"), "--rw=randwrite",
			"--bs=4k", "--iodepth=8", "--size=8M", "--verify=crc32c", "--do_verify=1",
			"--verify_fatal=1", "--verify_backlog=512")
	} else {
		t.Log("fio not installed: the fio job is skipped (apt-get install fio)")
	}
	vm1, base := s.client(t, "vm1"), s.client(t, "base")
	if !bytes.Equal(readAt(t, vm1, 48<<20, 4<<20), pattern(0xb5, 4<<20)) {
		t.Error("the clone does not hold its source's data")
	}
	if !bytes.Equal(readAt(t, base, 0, 4<<20), pattern(0xb5, 4<<20)) {
		t.Error("writes to the clone changed its source")
	}
	s.stop(t)
	if out := mustRun(t, "check", "--device", dev); !strings.Contains(out, "rbd engine consistent: 2 volumes") {
		t.Errorf("check printed %q", out)
	}
}

// deleteAll deletes every volume on dev's engine, newest first.
func deleteAll(t *testing.T, path string) {
	d, err := device.Open(path, device.Options{})
	if err != nil {
		t.Error(err)
		return
	}
	defer d.Close()
	e, err := strategies.Open(d)
	if err != nil {
		t.Error(err)
		return
	}
	defer e.Close()
	vols := e.Volumes()
	for i := len(vols) - 1; i >= 0; i-- {
		if err := e.Delete(vols[i].ID); err != nil {
			t.Error(err)
		}
	}
	if err := e.Check(); err != nil {
		t.Error(err)
	}
}
