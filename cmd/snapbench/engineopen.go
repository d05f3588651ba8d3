package main

import (
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// openDevice opens path with device.OpenLocked (direct IO, safety rules)
// under an advisory lock, so that two snapbench processes never drive one
// engine at once: shared for opts.ReadOnly, exclusive otherwise (block
// devices opened for writing are also opened O_EXCL). unlock releases the
// lock; call it after closing the device.
func openDevice(path string, opts device.Options) (dev *device.File, unlock func(), err error) {
	return device.OpenLocked(path, opts)
}

// openEngine opens the device at path (direct IO, safety rules; force
// overrides them as device.Options.Force does) and the engine its
// superblock names. readOnly opens the device O_RDONLY under a shared lock
// (check, volume list, serve --read-only): an engine write then fails. closeAll closes the engine, then the device, then drops
// the lock; it does not flush (engine metadata operations are durable on
// return; call Flush first after writing data). Errors read as one line.
func openEngine(path string, force, readOnly bool) (eng strategies.Engine, dev device.Device, closeAll func() error, err error) {
	f, unlock, err := openDevice(path, device.Options{Force: force, ReadOnly: readOnly})
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err = strategies.Open(f)
	if err != nil {
		f.Close()
		unlock()
		if errors.Is(err, strategies.ErrNoSuperblock) {
			return nil, nil, nil, fmt.Errorf("%s holds no snapbench engine (snapbench format lays one)", path)
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
