package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/snapbench/snapbench/nbd"
	"github.com/snapbench/snapbench/strategies"
)

// checkLoopback refuses a TCP address that is not loopback unless allowed:
// NBD has no authentication.
func checkLoopback(address string, allow bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:10809", address)
	}
	if allow || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %q is not a loopback address; NBD has no authentication or encryption, so anyone who can reach it can read and write the volumes (--allow-remote to serve it anyway)", address)
}

// listenNBD listens on a unix socket or a TCP address. A unix socket file
// left behind by a server that is gone is replaced; any other file is not.
func listenNBD(network, address string) (net.Listener, error) {
	if network == "unix" {
		if st, err := os.Lstat(address); err == nil {
			if st.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("--socket %s: a file that is not a socket is in the way", address)
			}
			c, err := net.Dial("unix", address)
			if err == nil {
				c.Close()
				return nil, fmt.Errorf("--socket %s: another server is listening there", address)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("--socket %s: %w", address, err)
			}
			os.Remove(address) // stale
		}
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

// openExports opens the named volumes (when names is empty, all but internal
// and invalidated ones) as NBD exports: snapshots and read-only volumes read-only, the
// engine's chunk as preferred block size where chunks are shared.
func openExports(eng strategies.Engine, chunk int, names []string, readOnly bool) ([]nbd.Export, []strategies.VolumeInfo, func(), error) {
	if len(names) == 0 {
		for _, v := range eng.Volumes() {
			if v.Kind != strategies.KindInternal && v.Valid {
				names = append(names, v.Name)
			}
		}
		if len(names) == 0 {
			return nil, nil, nil, fmt.Errorf("the %s engine holds no volumes to serve (snapbench volume create makes one)", eng.Name())
		}
	}
	var exports []nbd.Export
	var infos []strategies.VolumeInfo
	var vols []strategies.Volume
	closeAll := func() {
		for _, v := range vols {
			v.Close()
		}
	}
	pref := 0
	if c := eng.Caps(); c.Snapshot || c.Clone {
		pref = chunk
	}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			closeAll()
			return nil, nil, nil, fmt.Errorf("volume %q given twice", name)
		}
		seen[name] = true
		id, err := strategies.Lookup(eng, name)
		var info strategies.VolumeInfo
		if err == nil {
			info, err = strategies.Info(eng, id)
		}
		var vol strategies.Volume
		if err == nil {
			vol, err = eng.Open(id)
		}
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		vols = append(vols, vol)
		infos = append(infos, info)
		exports = append(exports, nbd.Export{Name: name, Device: vol, PreferredBlockSize: pref,
			ReadOnly:    readOnly || info.ReadOnly || info.Kind == strategies.KindSnapshot,
			Description: fmt.Sprintf("%s volume of the %s engine", info.Kind, eng.Name())})
	}
	return exports, infos, closeAll, nil
}
