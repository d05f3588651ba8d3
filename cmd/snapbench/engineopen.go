package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// openDevice opens path with device.Open (direct IO, safety rules) and takes
// an exclusive advisory lock on it, so that two snapbench processes never
// drive one engine at once (block devices are also opened O_EXCL). unlock
// releases the lock; call it after closing the device.
func openDevice(path string, opts device.Options) (dev *device.File, unlock func(), err error) {
	dev, err = device.Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	lock, err := os.Open(path)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			err = fmt.Errorf("%s is in use by another snapbench command (a running serve?)", path)
		} else if err != nil {
			err = fmt.Errorf("lock %s: %w", path, err)
		}
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		dev.Close()
		return nil, nil, err
	}
	return dev, func() { lock.Close() }, nil
}

// openEngine opens the device at path (direct IO, safety rules; force
// overrides them as device.Options.Force does) and the engine its
// superblock names. closeAll closes the engine, then the device, then drops
// the lock; it does not flush (engine metadata operations are durable on
// return; call Flush first after writing data). Errors read as one line.
func openEngine(path string, force bool) (eng strategies.Engine, dev device.Device, closeAll func() error, err error) {
	f, unlock, err := openDevice(path, device.Options{Force: force})
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err = strategies.Open(f)
	if err != nil {
		f.Close()
		unlock()
		if errors.Is(err, strategies.ErrNoSuperblock) {
			return nil, nil, nil, fmt.Errorf("%s holds no snapbench engine (snapbench format --device %s --engine NAME lays one)", path, path)
		}
		return nil, nil, nil, fmt.Errorf("open the engine on %s: %w", path, err)
	}
	closeAll = func() error {
		err := eng.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		unlock()
		return err
	}
	return eng, f, closeAll, nil
}
