package rbd

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// image is an open librbd image handle: the image itself (writable), or
// one of its snapshots (read-only). Safe for concurrent IO.
type image struct {
	c    *conn
	h    uintptr
	name string
	snap string
}

// openImage opens name, or its snapshot snap read-only when snap != "".
func (c *conn) openImage(name, snap string) (*image, error) {
	im := &image{c: c, name: name, snap: snap}
	var r int32
	if snap == "" {
		r = c.l.rbdOpen(c.ioctx, name, unsafe.Pointer(&im.h), nil)
	} else {
		r = c.l.rbdOpenReadOnly(c.ioctx, name, unsafe.Pointer(&im.h), snap)
	}
	if r < 0 {
		return nil, fmt.Errorf("open image %s%s: %w", name, at(snap), cerr(int64(r)))
	}
	return im, nil
}

func at(snap string) string {
	if snap == "" {
		return ""
	}
	return "@" + snap
}

// withImage runs fn on name opened writable, and closes it.
func (c *conn) withImage(name string, fn func(*image) error) error {
	im, err := c.openImage(name, "")
	if err != nil {
		return err
	}
	err = fn(im)
	if cerr := im.close(); err == nil {
		err = cerr
	}
	return err
}

func (im *image) close() error {
	if im.h == 0 {
		return nil
	}
	r := im.c.l.rbdClose(im.h)
	im.h = 0
	if r < 0 {
		return fmt.Errorf("close image %s: %w", im.name, cerr(int64(r)))
	}
	return nil
}

func (im *image) size() (int64, error) {
	var s uint64
	if r := im.c.l.rbdGetSize(im.h, unsafe.Pointer(&s)); r < 0 {
		return 0, fmt.Errorf("size of image %s: %w", im.name, cerr(int64(r)))
	}
	return int64(s), nil
}

// readAt and writeAt are synchronous librbd IO: the calling goroutine's
// thread waits in librbd, other goroutines run on.
func (im *image) readAt(p []byte, off int64) (int, error) {
	r := im.c.l.rbdRead(im.h, uint64(off), uint64(len(p)), unsafe.Pointer(unsafe.SliceData(p)))
	runtime.KeepAlive(p)
	if r < 0 {
		return 0, fmt.Errorf("read image %s%s at %d: %w", im.name, at(im.snap), off, cerr(r))
	}
	return int(r), nil
}

func (im *image) writeAt(p []byte, off int64) (int, error) {
	r := im.c.l.rbdWrite(im.h, uint64(off), uint64(len(p)), unsafe.Pointer(unsafe.SliceData(p)))
	runtime.KeepAlive(p)
	if r < 0 {
		return 0, fmt.Errorf("write image %s at %d: %w", im.name, off, cerr(r))
	}
	return int(r), nil
}

func (im *image) flush() error {
	if r := im.c.l.rbdFlush(im.h); r < 0 {
		return fmt.Errorf("flush image %s: %w", im.name, cerr(int64(r)))
	}
	return nil
}

func (im *image) flatten() error {
	if r := im.c.l.rbdFlatten(im.h); r < 0 {
		return fmt.Errorf("flatten image %s: %w", im.name, cerr(int64(r)))
	}
	return nil
}

func (im *image) snapCreate(snap string) error {
	if r := im.c.l.rbdSnapCreate(im.h, snap); r < 0 {
		return fmt.Errorf("snapshot %s@%s: %w", im.name, snap, cerr(int64(r)))
	}
	return nil
}

func (im *image) protected(snap string) (bool, error) {
	var p int32
	if r := im.c.l.rbdSnapIsProt(im.h, snap, unsafe.Pointer(&p)); r < 0 {
		return false, fmt.Errorf("is %s@%s protected: %w", im.name, snap, cerr(int64(r)))
	}
	return p != 0, nil
}

func (im *image) protect(snap string) error {
	if r := im.c.l.rbdSnapProtect(im.h, snap); r < 0 && -r != int32(syscall.EBUSY) {
		return fmt.Errorf("protect %s@%s: %w", im.name, snap, cerr(int64(r)))
	}
	return nil
}

// snapRemove unprotects snap where it is protected and removes it.
func (im *image) snapRemove(snap string) error {
	if p, err := im.protected(snap); err != nil {
		return err
	} else if p {
		if r := im.c.l.rbdSnapUnprotect(im.h, snap); r < 0 {
			return fmt.Errorf("unprotect %s@%s: %w", im.name, snap, cerr(int64(r)))
		}
	}
	if r := im.c.l.rbdSnapRemove(im.h, snap); r < 0 {
		return fmt.Errorf("remove snapshot %s@%s: %w", im.name, snap, cerr(int64(r)))
	}
	return nil
}

// snaps lists the image's snapshot names.
func (im *image) snaps() ([]string, error) {
	type snapInfo struct {
		id, size uint64
		name     *byte
	}
	n := int32(16)
	for {
		buf := make([]snapInfo, n)
		r := im.c.l.rbdSnapList(im.h, unsafe.Pointer(&buf[0]), unsafe.Pointer(&n))
		if r == -int32(syscall.ERANGE) {
			continue
		}
		if r < 0 {
			return nil, fmt.Errorf("list snapshots of %s: %w", im.name, cerr(int64(r)))
		}
		out := make([]string, 0, r)
		for _, s := range buf[:r] {
			out = append(out, cStringAt(s.name))
		}
		im.c.l.rbdSnapListEnd(unsafe.Pointer(&buf[0]))
		return out, nil
	}
}

// cStringAt copies the C string at p (C memory).
func cStringAt(p *byte) string {
	if p == nil {
		return ""
	}
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// parent returns the image and snapshot the image is a clone of, or
// "", "" when it has none (never cloned, or flattened).
func (im *image) parent() (name, snap string, err error) {
	var pool, nm, id, sn [256]byte
	r := im.c.l.rbdGetParentInfo(im.h, unsafe.Pointer(&pool[0]), 256, unsafe.Pointer(&nm[0]), 256,
		unsafe.Pointer(&id[0]), 256, unsafe.Pointer(&sn[0]), 256)
	if -r == int32(syscall.ENOENT) {
		return "", "", nil
	}
	if r < 0 {
		return "", "", fmt.Errorf("parent of %s: %w", im.name, cerr(int64(r)))
	}
	return cString(nm[:]), cString(sn[:]), nil
}

// removeImage deletes image name and every snapshot it still has.
func (c *conn) removeImage(name string) error {
	err := c.withImage(name, func(im *image) error {
		snaps, err := im.snaps()
		if err != nil {
			return err
		}
		for _, s := range snaps {
			if err := im.snapRemove(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !isErrno(err, syscall.ENOENT) {
		return err
	}
	if r := c.l.rbdRemove(c.ioctx, name); r < 0 && -r != int32(syscall.ENOENT) {
		return fmt.Errorf("remove image %s: %w", name, cerr(int64(r)))
	}
	return nil
}

// removeImages removes images of one or more engine instances
// ("INSTANCE.ID"), newest id first: a clone's id is always greater than
// its parent's, so no snapshot still has a clone when it is removed (clone
// format 2 would move it to the trash, and its image could not go).
func (c *conn) removeImages(names []string) error {
	sort.Slice(names, func(i, j int) bool { return imageID(names[i]) > imageID(names[j]) })
	var errs []error
	for _, n := range names {
		if err := c.removeImage(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// imageID is the volume id at the end of an image name "INSTANCE.ID".
func imageID(n string) int64 {
	id, _ := strconv.ParseInt(n[strings.LastIndexByte(n, '.')+1:], 10, 64)
	return id
}
