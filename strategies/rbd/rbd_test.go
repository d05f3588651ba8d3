package rbd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/peer/peertest"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// cluster skips t unless the Ceph client libraries are installed and
// SNAPBENCH_CEPH_CONF names a cluster (ci/ceph-cluster.sh start DIR makes
// one); it returns options with a prefix of its own, and removes every
// image with that prefix when the test ends.
func cluster(t *testing.T, params map[string]string) strategies.Options {
	t.Helper()
	if err := Requirements(); err != nil {
		t.Skipf("%v", err)
	}
	conf := os.Getenv("SNAPBENCH_CEPH_CONF")
	if conf == "" {
		t.Skip("rbd: no cluster: set SNAPBENCH_CEPH_CONF (and SNAPBENCH_CEPH_POOL), e.g. from ci/ceph-cluster.sh start DIR")
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	prefix := "sbtest" + hex.EncodeToString(rnd[:])
	p := map[string]string{"prefix": prefix}
	for k, v := range params {
		p[k] = v
	}
	opts := strategies.Options{ChunkSize: strategies.DefaultChunkSize, Params: p}
	t.Cleanup(func() { purgePrefix(t, opts, prefix) })
	return opts
}

// purgePrefix removes every image and table object whose name starts with
// prefix, clones first.
func purgePrefix(t *testing.T, opts strategies.Options, prefix string) {
	s, err := resolve(withDefaults(opts.Params))
	if err != nil {
		t.Error(err)
		return
	}
	c, err := dial(s.conn)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.close()
	imgs, err := c.images()
	if err != nil {
		t.Error(err)
		return
	}
	var ours []string
	instances := map[string]bool{}
	for _, n := range imgs {
		if strings.HasPrefix(n, prefix+"-") {
			ours = append(ours, n)
			instances[n[:strings.LastIndexByte(n, '.')]] = true
		}
	}
	if err := c.removeImages(ours); err != nil {
		t.Errorf("cannot remove test images: %v", err)
	}
	for inst := range instances {
		c.removeObject(tableOID(inst))
	}
}

// TestConformance runs the shared suite with clone format 2 (the
// default), and with format 1 (protected snapshots) too under
// SNAPBENCH_LONG=1; TestLifecycle covers format 1 always.
func TestConformance(t *testing.T) {
	formats := []string{"2"}
	if os.Getenv("SNAPBENCH_LONG") != "" {
		formats = append(formats, "1")
	}
	for _, format := range formats {
		t.Run("clone-format="+format, func(t *testing.T) {
			opts := cluster(t, map[string]string{"clone-format": format})
			strategytest.Run(t, strategytest.Config{
				Engine:         name,
				Options:        opts,
				SectorSize:     512,
				NewDevice:      peertest.NewDevice(t.TempDir()),
				Sequences:      3,
				OpsPerSequence: 30,
				MaxVolumes:     6,
				NoCrash:        "the images live in the cluster, which keeps its own state; dropping a memory device's unflushed writes cannot crash it",
			})
		})
	}
}

// TestLifecycle drives the RBD mechanism directly: a burst of clones of
// one snapshot, copy-up writes, RBD's delete rules with and without
// flatten-on-delete, cluster counters, reopen and Check.
func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		format, flatten string
	}{{"1", "false"}, {"2", "false"}, {"2", "true"}} {
		t.Run("clone-format="+tc.format+",flatten="+tc.flatten, func(t *testing.T) {
			opts := cluster(t, map[string]string{"clone-format": tc.format, "flatten-on-delete": tc.flatten, "order": "20"})
			dev := memDev(t)
			e, err := strategies.Format(name, dev, opts)
			if err != nil {
				t.Fatalf("Format: %v", err)
			}
			defer func() { e.Close() }()
			const size = 4 << 20
			base, err := e.Create("base", size)
			if err != nil {
				t.Fatal(err)
			}
			data := device.Alloc(1 << 20)
			for i := range data {
				data[i] = byte(i * 7)
			}
			v, err := e.Open(base)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			clones, err := strategies.CloneMany(e, base, []string{"c1", "c2", "c3", "c4", "c5"})
			if err != nil {
				t.Fatalf("CloneMany: %v", err)
			}
			snap, err := e.Snapshot(base, "snap")
			if err != nil {
				t.Fatal(err)
			}
			// The base moves on; the snapshot and clones keep the old data.
			if _, err := v.WriteAt(make([]byte, 4096), 0); err != nil {
				t.Fatal(err)
			}
			v.Close()
			for _, id := range append([]strategies.VolumeID{snap}, clones...) {
				cv, err := e.Open(id)
				if err != nil {
					t.Fatal(err)
				}
				got := device.Alloc(len(data))
				if _, err := cv.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("volume %d: data differs from the base's at clone time", id)
				}
				_, werr := cv.WriteAt(got[:4096], 1<<20) // a copy-up in a clone
				if id == snap && !errors.Is(werr, strategies.ErrReadOnly) {
					t.Errorf("write to a snapshot: %v, want ErrReadOnly", werr)
				} else if id != snap && werr != nil {
					t.Fatal(werr)
				}
				cv.Close()
			}
			st := e.(strategies.Statser).Stats()
			if st["fs_write_bytes"] < 1<<20 || st["cluster_osds"] < 1 || st["fs_write_ios"] < 1 {
				t.Errorf("Stats = %v; want at least the 1 MiB written, from at least one OSD", st)
			}
			if sp := e.Space(); sp.Capacity <= 0 || sp.Data+sp.Metadata+sp.Free != sp.Capacity {
				t.Errorf("Space = %+v", sp)
			}
			if err := e.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if e, err = strategies.Open(dev); err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := e.Check(); err != nil {
				t.Fatalf("Check after reopen: %v", err)
			}
			// The snapshot has no children: it goes. The base has clones:
			// refused, unless they are flattened first.
			if err := e.Delete(snap); err != nil {
				t.Fatalf("Delete(snapshot): %v", err)
			}
			err = e.Delete(base)
			if tc.flatten == "true" {
				if err != nil {
					t.Fatalf("Delete(base) with flatten-on-delete: %v", err)
				}
				cv, err := e.Open(clones[0])
				if err != nil {
					t.Fatal(err)
				}
				got := device.Alloc(len(data))
				if _, err := cv.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[:1<<20-4096], data[:1<<20-4096]) {
					t.Errorf("flattened clone lost its data")
				}
				cv.Close()
			} else if !errors.Is(err, strategies.ErrHasChildren) {
				t.Fatalf("Delete(base with clones) = %v, want ErrHasChildren", err)
			}
			for _, id := range clones {
				if err := e.Delete(id); err != nil {
					t.Fatalf("Delete(clone): %v", err)
				}
			}
			if tc.flatten != "true" {
				if err := e.Delete(base); err != nil {
					t.Fatalf("Delete(base) after its clones: %v", err)
				}
			}
			if err := e.Check(); err != nil {
				t.Fatalf("Check after deletes: %v", err)
			}
			if imgs, err := e.(*Engine).instanceImages(); err != nil || len(imgs) != 0 {
				t.Errorf("images left after deleting every volume: %v %v", imgs, err)
			}
		})
	}
}

// TestWithoutCluster: a missing conf file is one clear error, not a hang.
func TestWithoutCluster(t *testing.T) {
	if err := Requirements(); err != nil {
		if !errors.Is(err, strategies.ErrUnsupported) || !strings.Contains(err.Error(), "apt-get install") {
			t.Fatalf("Requirements = %v; want ErrUnsupported saying what to install", err)
		}
		return
	}
	_, err := strategies.Format(name, memDev(t), strategies.Options{Params: map[string]string{"conf": "/nonexistent/ceph.conf"}})
	if err == nil || !strings.Contains(err.Error(), "SNAPBENCH_CEPH_CONF") {
		t.Fatalf("Format without a cluster = %v; want an error naming SNAPBENCH_CEPH_CONF", err)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		ok     bool
	}{
		{map[string]string{}, true},
		{map[string]string{"features": "layering+exclusive-lock+object-map+fast-diff"}, true},
		{map[string]string{"features": "exclusive-lock"}, false},
		{map[string]string{"features": "layering+dedup"}, false},
		{map[string]string{"order": "11"}, false},
		{map[string]string{"order": "25"}, true},
		{map[string]string{"clone-format": "3"}, false},
		{map[string]string{"prefix": "a.b"}, false},
		{map[string]string{"flatten-on-delete": "maybe"}, false},
	} {
		_, err := resolve(withDefaults(tc.params))
		if (err == nil) != tc.ok {
			t.Errorf("options %v: err = %v, want ok=%v", tc.params, err, tc.ok)
		}
	}
}

// withDefaults fills the engine's defaults in, as strategies.Format does.
func withDefaults(p map[string]string) strategies.Options {
	o := strategies.Options{ChunkSize: strategies.DefaultChunkSize, Params: map[string]string{}}
	for _, d := range params {
		o.Params[d.Name] = d.Default
	}
	for k, v := range p {
		o.Params[k] = v
	}
	return o
}

func memDev(t *testing.T) device.Device {
	d, err := device.NewMem(4<<20, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPurge: with purge=true, Close leaves nothing of the engine in the
// pool, even with clones, snapshots and an open handle.
func TestPurge(t *testing.T) {
	opts := cluster(t, map[string]string{"purge": "true"})
	e, err := strategies.Format(name, memDev(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.Create("base", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strategies.CloneMany(e, base, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Snapshot(base, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Open(base); err != nil {
		t.Fatal(err)
	}
	inst := e.(*Engine).t.Instance
	if err := e.Close(); err != nil {
		t.Fatalf("Close with purge: %v", err)
	}
	s, _ := resolve(withDefaults(opts.Params))
	c, err := dial(s.conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	imgs, err := c.images()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range imgs {
		if strings.HasPrefix(n, inst) {
			t.Errorf("image %s left after a purging Close", n)
		}
	}
	if _, err := c.readObject(tableOID(inst)); err == nil {
		t.Errorf("table %s left after a purging Close", tableOID(inst))
	}
}
