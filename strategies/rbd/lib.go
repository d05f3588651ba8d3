package rbd

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/snapbench/snapbench/strategies"
)

// The Ceph client libraries are loaded at run time (purego), so that
// snapbench builds and runs without them; only the rbd engine needs them.
const (
	libradosName = "librados.so.2"
	librbdName   = "librbd.so.1"
	// Install is what to install on Debian or Ubuntu for the engine.
	Install = "apt-get install librbd1 librados2 (client libraries; for a throwaway cluster also ceph-mon ceph-mgr ceph-osd ceph-common)"
)

// lib holds the C functions the engine calls. Every pointer argument is
// either a C pointer or Go memory without Go pointers in it that lives
// for the call (purego keeps the arguments alive; callers keep buffers
// with runtime.KeepAlive where needed). C int results are int32, ssize_t
// int64.
type lib struct {
	radosCreate       func(cluster unsafe.Pointer, id string) int32
	radosConfReadFile func(cluster uintptr, path string) int32
	radosConfSet      func(cluster uintptr, opt, val string) int32
	radosConnect      func(cluster uintptr) int32
	radosShutdown     func(cluster uintptr)
	radosIoctxCreate  func(cluster uintptr, pool string, ioctx unsafe.Pointer) int32
	radosIoctxDestroy func(ioctx uintptr)
	radosWriteFull    func(ioctx uintptr, oid string, buf unsafe.Pointer, n uint64) int32
	radosRead         func(ioctx uintptr, oid string, buf unsafe.Pointer, n uint64, off uint64) int32
	radosStat         func(ioctx uintptr, oid string, size unsafe.Pointer, mtime unsafe.Pointer) int32
	radosRemove       func(ioctx uintptr, oid string) int32
	radosClusterStat  func(cluster uintptr, st unsafe.Pointer) int32
	radosPoolStat     func(ioctx uintptr, st unsafe.Pointer) int32
	radosMonCommand   func(cluster uintptr, cmd unsafe.Pointer, cmdlen uint64, inbuf unsafe.Pointer, inlen uint64,
		outbuf, outlen, outs, outslen unsafe.Pointer) int32
	radosOsdCommand func(cluster uintptr, osd int32, cmd unsafe.Pointer, cmdlen uint64, inbuf unsafe.Pointer, inlen uint64,
		outbuf, outlen, outs, outslen unsafe.Pointer) int32
	radosBufferFree func(buf unsafe.Pointer)

	rbdCreate2       func(ioctx uintptr, name string, size uint64, features uint64, order unsafe.Pointer) int32
	rbdClone2        func(pioctx uintptr, pname, psnap string, cioctx uintptr, cname string, features uint64, order unsafe.Pointer, stripeUnit, stripeCount uint64) int32
	rbdRemove        func(ioctx uintptr, name string) int32
	rbdList          func(ioctx uintptr, names unsafe.Pointer, size unsafe.Pointer) int32
	rbdOpen          func(ioctx uintptr, name string, image unsafe.Pointer, snap unsafe.Pointer) int32
	rbdOpenReadOnly  func(ioctx uintptr, name string, image unsafe.Pointer, snap string) int32
	rbdClose         func(image uintptr) int32
	rbdGetSize       func(image uintptr, size unsafe.Pointer) int32
	rbdRead          func(image uintptr, off uint64, n uint64, buf unsafe.Pointer) int64
	rbdWrite         func(image uintptr, off uint64, n uint64, buf unsafe.Pointer) int64
	rbdFlush         func(image uintptr) int32
	rbdFlatten       func(image uintptr) int32
	rbdSnapCreate    func(image uintptr, snap string) int32
	rbdSnapRemove    func(image uintptr, snap string) int32
	rbdSnapProtect   func(image uintptr, snap string) int32
	rbdSnapUnprotect func(image uintptr, snap string) int32
	rbdSnapIsProt    func(image uintptr, snap string, prot unsafe.Pointer) int32
	rbdSnapList      func(image uintptr, snaps unsafe.Pointer, max unsafe.Pointer) int32
	rbdSnapListEnd   func(snaps unsafe.Pointer)
	rbdGetParentInfo func(image uintptr, pool unsafe.Pointer, poolLen uint64, name unsafe.Pointer, nameLen uint64,
		id unsafe.Pointer, idLen uint64, snap unsafe.Pointer, snapLen uint64) int32
}

var (
	libOnce sync.Once
	libC    *lib
	libErr  error
)

// load opens librados and librbd once; the error wraps
// strategies.ErrUnsupported and says what to install.
func load() (*lib, error) {
	libOnce.Do(func() { libC, libErr = loadLib() })
	return libC, libErr
}

func loadLib() (*lib, error) {
	missing := func(err error) error {
		return fmt.Errorf("rbd: %w on this machine: needs the Ceph client libraries %s and %s (%v): %s",
			strategies.ErrUnsupported, librbdName, libradosName, err, Install)
	}
	rados, err := purego.Dlopen(libradosName, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, missing(err)
	}
	rbd, err := purego.Dlopen(librbdName, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, missing(err)
	}
	l := &lib{}
	syms := []struct {
		h    uintptr
		name string
		fn   any
	}{
		{rados, "rados_create", &l.radosCreate},
		{rados, "rados_conf_read_file", &l.radosConfReadFile},
		{rados, "rados_conf_set", &l.radosConfSet},
		{rados, "rados_connect", &l.radosConnect},
		{rados, "rados_shutdown", &l.radosShutdown},
		{rados, "rados_ioctx_create", &l.radosIoctxCreate},
		{rados, "rados_ioctx_destroy", &l.radosIoctxDestroy},
		{rados, "rados_write_full", &l.radosWriteFull},
		{rados, "rados_read", &l.radosRead},
		{rados, "rados_stat", &l.radosStat},
		{rados, "rados_remove", &l.radosRemove},
		{rados, "rados_cluster_stat", &l.radosClusterStat},
		{rados, "rados_ioctx_pool_stat", &l.radosPoolStat},
		{rados, "rados_mon_command", &l.radosMonCommand},
		{rados, "rados_osd_command", &l.radosOsdCommand},
		{rados, "rados_buffer_free", &l.radosBufferFree},
		{rbd, "rbd_create2", &l.rbdCreate2},
		{rbd, "rbd_clone2", &l.rbdClone2},
		{rbd, "rbd_remove", &l.rbdRemove},
		{rbd, "rbd_list", &l.rbdList},
		{rbd, "rbd_open", &l.rbdOpen},
		{rbd, "rbd_open_read_only", &l.rbdOpenReadOnly},
		{rbd, "rbd_close", &l.rbdClose},
		{rbd, "rbd_get_size", &l.rbdGetSize},
		{rbd, "rbd_read", &l.rbdRead},
		{rbd, "rbd_write", &l.rbdWrite},
		{rbd, "rbd_flush", &l.rbdFlush},
		{rbd, "rbd_flatten", &l.rbdFlatten},
		{rbd, "rbd_snap_create", &l.rbdSnapCreate},
		{rbd, "rbd_snap_remove", &l.rbdSnapRemove},
		{rbd, "rbd_snap_protect", &l.rbdSnapProtect},
		{rbd, "rbd_snap_unprotect", &l.rbdSnapUnprotect},
		{rbd, "rbd_snap_is_protected", &l.rbdSnapIsProt},
		{rbd, "rbd_snap_list", &l.rbdSnapList},
		{rbd, "rbd_snap_list_end", &l.rbdSnapListEnd},
		{rbd, "rbd_get_parent_info2", &l.rbdGetParentInfo},
	}
	for _, s := range syms {
		p, err := purego.Dlsym(s.h, s.name)
		if err != nil {
			return nil, missing(fmt.Errorf("symbol %s: %w", s.name, err))
		}
		purego.RegisterFunc(s.fn, p)
	}
	return l, nil
}

// Requirements returns nil when this machine has the Ceph client
// libraries, else an error wrapping strategies.ErrUnsupported that says
// what to install. A reachable cluster is checked by Format and Open.
func Requirements() error {
	_, err := load()
	return err
}

// cerr turns a negative errno result of librados/librbd into an error
// wrapping the matching strategies sentinel where there is one; nil for
// r >= 0.
func cerr(r int64) error {
	if r >= 0 {
		return nil
	}
	e := syscall.Errno(-r)
	switch e {
	case syscall.ENOSPC, syscall.EDQUOT:
		return fmt.Errorf("%w: %w", strategies.ErrNoSpace, e)
	case syscall.EBUSY:
		return fmt.Errorf("%w: %w", strategies.ErrBusy, e)
	case syscall.EEXIST:
		return fmt.Errorf("%w: %w", strategies.ErrExists, e)
	}
	return e
}

// isErrno reports whether err is the errno e.
func isErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }

// cString returns the C string at the start of b.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
