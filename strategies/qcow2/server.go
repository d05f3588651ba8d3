package qcow2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	nbdclient "github.com/snapbench/snapbench/device/nbd/client"
)

// server is one qemu-nbd process serving one qcow2 image (a volume's top
// layer, with its backing chain) on a unix socket, and snapbench's NBD
// client connected to it.
type server struct {
	file   string
	sock   string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr bytes.Buffer
	client *nbdclient.Client
}

// startServer starts qemu-nbd on file (read-only if ro) with a socket in
// sockDir and connects to it. qemu opens the image with O_DIRECT
// (cache=none), so only its own metadata caching sits between the client
// and the file system; a flush is an fdatasync of the image.
func startServer(file, sockDir, tag string, ro bool) (*server, error) {
	s := &server{file: file, sock: filepath.Join(sockDir, tag+".sock"), exited: make(chan struct{})}
	os.Remove(s.sock)
	args := []string{"--socket=" + s.sock, "--format=qcow2", "--cache=none", "--aio=threads",
		"--discard=unmap", "--export-name=v", "--shared=1"}
	if ro {
		args = append(args, "--read-only")
	}
	s.cmd = exec.Command("qemu-nbd", append(args, file)...)
	s.cmd.Stderr = &s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu-nbd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := nbdclient.Dial(ctx, "unix", s.sock, "v")
		cancel()
		if err == nil {
			s.client = c
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("qemu-nbd %s exited: %s", filepath.Base(file), bytes.TrimSpace(s.stderr.Bytes()))
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("qemu-nbd %s: no connection after 10s: %w", filepath.Base(file), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop disconnects, stops qemu-nbd (which flushes the image as it exits)
// and waits for it; it kills a qemu-nbd that lingers.
func (s *server) stop() error {
	var err error
	if s.client != nil {
		err = s.client.Close()
		s.client = nil
	}
	select {
	case <-s.exited:
	case <-time.After(100 * time.Millisecond):
		s.cmd.Process.Signal(syscall.SIGTERM) // qemu-nbd flushes and exits
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			err = errors.Join(err, fmt.Errorf("qemu-nbd %s killed", filepath.Base(s.file)))
		}
	}
	os.Remove(s.sock)
	return err
}
