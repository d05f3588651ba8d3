package rbd

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"unsafe"
)

// conn is a librados client connected to a cluster, with an IO context on
// one pool. Its methods are safe for concurrent use (librados and librbd
// are thread-safe); close it after every image handle.
type conn struct {
	l       *lib
	cluster uintptr
	ioctx   uintptr
	pool    string
}

// connConfig says how to reach the cluster.
type connConfig struct {
	Conf     string // ceph.conf path
	Pool     string
	ClientID string // "admin" for client.admin
	// CloneFormat is librbd's rbd_default_clone_format: "1" or "2".
	CloneFormat string
}

// dial connects to the cluster and opens the pool. The client's writeback
// cache is off (rbd_cache=false): an acknowledged write is on the OSDs, so
// a snapshot or clone taken through another handle sees it, as the
// Engine contract asks, and Flush is cheap. The client's admin socket is
// left at its default (never /dev/null, which the client would replace
// with a socket).
func dial(c connConfig) (*conn, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.Conf); err != nil {
		return nil, fmt.Errorf("rbd: ceph conf: %w (set the engine option conf, or SNAPBENCH_CEPH_CONF; ci/ceph-cluster.sh start DIR makes a throwaway cluster)", err)
	}
	cn := &conn{l: l, pool: c.Pool}
	if r := l.radosCreate(unsafe.Pointer(&cn.cluster), c.ClientID); r < 0 {
		return nil, fmt.Errorf("rbd: rados_create for client %q: %w", c.ClientID, cerr(int64(r)))
	}
	fail := func(what string, r int32) (*conn, error) {
		l.radosShutdown(cn.cluster)
		return nil, fmt.Errorf("rbd: %s: %w", what, cerr(int64(r)))
	}
	if r := l.radosConfReadFile(cn.cluster, c.Conf); r < 0 {
		return fail("read "+c.Conf, r)
	}
	for _, kv := range [][2]string{{"rbd_cache", "false"}, {"rbd_default_clone_format", c.CloneFormat},
		{"client_mount_timeout", "30"}, {"rados_mon_op_timeout", "60"}, {"rados_osd_op_timeout", "0"}} {
		if r := l.radosConfSet(cn.cluster, kv[0], kv[1]); r < 0 {
			return fail("set "+kv[0]+"="+kv[1], r)
		}
	}
	if r := l.radosConnect(cn.cluster); r < 0 {
		return fail("connect with "+c.Conf, r)
	}
	if r := l.radosIoctxCreate(cn.cluster, c.Pool, unsafe.Pointer(&cn.ioctx)); r < 0 {
		return fail(fmt.Sprintf("open pool %q (create it: ceph osd pool create %s; rbd pool init %s)", c.Pool, c.Pool, c.Pool), r)
	}
	return cn, nil
}

func (c *conn) close() {
	if c.ioctx != 0 {
		c.l.radosIoctxDestroy(c.ioctx)
		c.ioctx = 0
	}
	if c.cluster != 0 {
		c.l.radosShutdown(c.cluster)
		c.cluster = 0
	}
}

// writeObject replaces object oid with b atomically (rados_write_full).
func (c *conn) writeObject(oid string, b []byte) error {
	r := c.l.radosWriteFull(c.ioctx, oid, unsafe.Pointer(unsafe.SliceData(b)), uint64(len(b)))
	runtime.KeepAlive(b)
	return cerr(int64(r))
}

// readObject returns object oid whole; a missing object is ENOENT.
func (c *conn) readObject(oid string) ([]byte, error) {
	var size uint64
	var mtime int64
	if r := c.l.radosStat(c.ioctx, oid, unsafe.Pointer(&size), unsafe.Pointer(&mtime)); r < 0 {
		return nil, cerr(int64(r))
	}
	b := make([]byte, size+1)
	r := c.l.radosRead(c.ioctx, oid, unsafe.Pointer(&b[0]), uint64(len(b)), 0)
	runtime.KeepAlive(b)
	if r < 0 {
		return nil, cerr(int64(r))
	}
	return b[:r], nil
}

func (c *conn) removeObject(oid string) error {
	return cerr(int64(c.l.radosRemove(c.ioctx, oid)))
}

// images lists the pool's image names, sorted.
func (c *conn) images() ([]string, error) {
	size := uint64(4096)
	for {
		buf := make([]byte, size)
		r := c.l.rbdList(c.ioctx, unsafe.Pointer(&buf[0]), unsafe.Pointer(&size))
		runtime.KeepAlive(buf)
		if r == -int32(syscall.ERANGE) {
			continue // size now holds what is needed
		}
		if r < 0 {
			return nil, fmt.Errorf("rbd: list images of pool %q: %w", c.pool, cerr(int64(r)))
		}
		var out []string
		for _, n := range strings.Split(string(buf[:max(r, 0)]), "\x00") {
			if n != "" {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out, nil
	}
}

// command sends a JSON command to the monitors (osd < 0) or to one OSD
// and returns its output.
func (c *conn) command(osd int, cmd string) ([]byte, error) {
	cs := append([]byte(cmd), 0)
	cmds := [1]unsafe.Pointer{unsafe.Pointer(&cs[0])}
	var out, outs unsafe.Pointer
	var outLen, outsLen uint64
	var r int32
	if osd < 0 {
		r = c.l.radosMonCommand(c.cluster, unsafe.Pointer(&cmds[0]), 1, nil, 0,
			unsafe.Pointer(&out), unsafe.Pointer(&outLen), unsafe.Pointer(&outs), unsafe.Pointer(&outsLen))
	} else {
		r = c.l.radosOsdCommand(c.cluster, int32(osd), unsafe.Pointer(&cmds[0]), 1, nil, 0,
			unsafe.Pointer(&out), unsafe.Pointer(&outLen), unsafe.Pointer(&outs), unsafe.Pointer(&outsLen))
	}
	runtime.KeepAlive(cs)
	var res []byte
	if out != nil {
		res = append(res, unsafe.Slice((*byte)(out), outLen)...)
		c.l.radosBufferFree(out)
	}
	var status string
	if outs != nil {
		status = string(unsafe.Slice((*byte)(outs), outsLen))
		c.l.radosBufferFree(outs)
	}
	if r < 0 {
		return nil, fmt.Errorf("rbd: command %s: %w (%s)", cmd, cerr(int64(r)), status)
	}
	return res, nil
}

// osds lists the ids of the cluster's OSDs.
func (c *conn) osds() ([]int, error) {
	out, err := c.command(-1, `{"prefix": "osd ls", "format": "json"}`)
	if err != nil {
		return nil, err
	}
	var ids []int
	if err := json.Unmarshal(out, &ids); err != nil {
		return nil, fmt.Errorf("rbd: osd ls: %w", err)
	}
	return ids, nil
}

// osdCounters are the OSD perf counters the engine reports.
type osdCounters struct {
	readOps, readBytes, writeOps, writeBytes, subopWriteBytes, storeWriteBytes int64
}

func (a osdCounters) add(b osdCounters) osdCounters {
	return osdCounters{a.readOps + b.readOps, a.readBytes + b.readBytes, a.writeOps + b.writeOps,
		a.writeBytes + b.writeBytes, a.subopWriteBytes + b.subopWriteBytes, a.storeWriteBytes + b.storeWriteBytes}
}

// perf sums "perf dump" of every OSD: client ops the OSDs served (op_r,
// op_w + op_rw, with op_out_bytes and op_in_bytes), the replication
// writes they sent each other (subop_w_in_bytes) and what BlueStore wrote
// for data (bluestore_write_big_bytes + bluestore_write_small_bytes).
// They count every client of the cluster, not this engine alone.
func (c *conn) perf(osds []int) (osdCounters, error) {
	var sum osdCounters
	for _, id := range osds {
		out, err := c.command(id, `{"prefix": "perf dump"}`)
		if err != nil {
			return sum, err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(out, &raw); err != nil {
			return sum, fmt.Errorf("rbd: perf dump of osd.%d: %w", id, err)
		}
		o, bs := ints(raw["osd"]), ints(raw["bluestore"])
		sum = sum.add(osdCounters{readOps: o["op_r"], readBytes: o["op_out_bytes"],
			writeOps: o["op_w"] + o["op_rw"], writeBytes: o["op_in_bytes"], subopWriteBytes: o["subop_w_in_bytes"],
			storeWriteBytes: bs["bluestore_write_big_bytes"] + bs["bluestore_write_small_bytes"]})
	}
	return sum, nil
}

// ints returns the integer members of a JSON object.
func ints(raw json.RawMessage) map[string]int64 {
	var m map[string]json.RawMessage
	out := map[string]int64{}
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for k, v := range m {
		var n int64
		if json.Unmarshal(v, &n) == nil {
			out[k] = n
		}
	}
	return out
}

// space returns the cluster's raw capacity and free bytes and the bytes
// the pool stores.
func (c *conn) space() (capacity, free, pool int64, err error) {
	var cs [4]uint64 // kb, kb_used, kb_avail, num_objects
	if r := c.l.radosClusterStat(c.cluster, unsafe.Pointer(&cs[0])); r < 0 {
		return 0, 0, 0, cerr(int64(r))
	}
	var ps [32]uint64 // rados_pool_stat_t: num_bytes first
	if r := c.l.radosPoolStat(c.ioctx, unsafe.Pointer(&ps[0])); r < 0 {
		return 0, 0, 0, cerr(int64(r))
	}
	return int64(cs[0]) * 1024, int64(cs[2]) * 1024, int64(ps[0]), nil
}
