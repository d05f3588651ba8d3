package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"github.com/snapbench/snapbench/strategies"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

// memContent returns the whole content of a device.
func memContent(t *testing.T, d device.Device) []byte {
	t.Helper()
	buf := device.Alloc(int(d.Size()))
	if _, err := d.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestReadWriteAligned(t *testing.T) {
	for _, sector := range []int{512, 4096} {
		const size = 8 << 20
		mem := newMem(t, size, sector)
		ts := startServer(t, []Export{{Name: "a", Device: mem}}, ServerOptions{})
		c := ts.dial(t, "a")
		if c.Size() != size || c.SectorSize() != sector {
			t.Fatalf("size %d sector %d, want %d %d", c.Size(), c.SectorSize(), size, sector)
		}
		if lo, pref, hi := c.BlockSizes(); lo != uint32(sector) || pref != uint32(max(4096, sector)) || hi != MaxRequest {
			t.Errorf("block sizes %d/%d/%d", lo, pref, hi)
		}
		rng := rand.New(rand.NewPCG(1, uint64(sector)))
		model := make([]byte, size)
		for i := 0; i < 300; i++ {
			n := (1 + rng.IntN(64)) * sector
			off := rng.Int64N(int64(size-n)/int64(sector)) * int64(sector)
			if rng.IntN(2) == 0 {
				data := randBytes(rng, n)
				if _, err := c.WriteAt(data, off); err != nil {
					t.Fatal(err)
				}
				copy(model[off:], data)
			} else {
				got := make([]byte, n)
				if _, err := c.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, model[off:off+int64(n)]) {
					t.Fatalf("sector %d: read %d+%d differs from what was written", sector, off, n)
				}
			}
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(memContent(t, mem), model) {
			t.Fatalf("sector %d: device content differs from the model", sector)
		}
	}
}

// TestUnalignedRequests drives the server with requests at arbitrary byte
// offsets and lengths, as clients that did not ask for block sizes may send.
func TestUnalignedRequests(t *testing.T) {
	const size = 1 << 20
	for _, sector := range []int{512, 4096} {
		mem := newMem(t, size, sector)
		ts := startServer(t, []Export{{Name: "u", Device: mem}}, ServerOptions{})
		c := ts.dial(t, "u")
		model := make([]byte, size)
		rng := rand.New(rand.NewPCG(2, uint64(sector)))
		for i := 0; i < 600; i++ {
			off := rng.Int64N(size)
			n := min(1+rng.Int64N(3*int64(sector)+100), size-off)
			switch rng.IntN(4) {
			case 0, 1:
				data := randBytes(rng, int(n))
				if err := c.Request(wire.CmdWrite, 0, off, uint32(n), data, nil); err != nil {
					t.Fatalf("write %d+%d: %v", off, n, err)
				}
				copy(model[off:], data)
			case 2:
				got := make([]byte, n)
				if err := c.Request(wire.CmdRead, 0, off, uint32(n), nil, got); err != nil {
					t.Fatalf("read %d+%d: %v", off, n, err)
				}
				if !bytes.Equal(got, model[off:off+n]) {
					t.Fatalf("sector %d: unaligned read %d+%d differs", sector, off, n)
				}
			case 3:
				if err := c.Request(wire.CmdWriteZeroes, 0, off, uint32(n), nil, nil); err != nil {
					t.Fatalf("write zeroes %d+%d: %v", off, n, err)
				}
				clear(model[off : off+n])
			}
		}
		if !bytes.Equal(memContent(t, mem), model) {
			t.Fatalf("sector %d: device content differs from the model", sector)
		}
		if st := ts.Stats()["u"]; st.RMWs == 0 || st.Errors != 0 {
			t.Errorf("stats %+v: want RMWs and no errors", st)
		}
	}
}

// TestConcurrentRMWOneSector has many clients write disjoint byte ranges of
// the same sectors at once: without serialised read-modify-writes some of
// the bytes would be lost.
func TestConcurrentRMWOneSector(t *testing.T) {
	mem := newMem(t, 1<<20, 4096)
	ts := startServer(t, []Export{{Name: "s", Device: mem}}, ServerOptions{})
	clients := []*client.Client{ts.dial(t, "s"), ts.dial(t, "s"), ts.dial(t, "s")}
	const pieces, piece = 60, 130 // 7800 bytes: two sectors, both partial
	for round := 0; round < 20; round++ {
		base := int64(round % 7)
		var wg sync.WaitGroup
		errs := make(chan error, pieces)
		for g := 0; g < pieces; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := bytes.Repeat([]byte{byte(round*pieces + g)}, piece)
				errs <- clients[g%len(clients)].Request(wire.CmdWrite, 0, base+int64(g*piece), piece, data, nil)
			}()
		}
		// An aligned write of a later sector in the same stripes, at once.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := clients[0].WriteAt(bytes.Repeat([]byte{0xee}, 4096), 64<<10); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := make([]byte, 8192)
		if _, err := clients[1].ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		for g := 0; g < pieces; g++ {
			p := got[base+int64(g*piece) : base+int64((g+1)*piece)]
			if !bytes.Equal(p, bytes.Repeat([]byte{byte(round*pieces + g)}, piece)) {
				t.Fatalf("round %d: piece %d lost (a read-modify-write raced)", round, g)
			}
		}
	}
}

// noDiscard hides a device's Discarder.
type noDiscard struct{ device.Device }

func TestTrimAndZero(t *testing.T) {
	const size = 1 << 20
	for _, discard := range []bool{true, false} {
		mem := newMem(t, size, 512)
		var dev device.Device = mem
		if !discard {
			dev = noDiscard{mem}
		}
		ts := startServer(t, []Export{{Name: "t", Device: dev}}, ServerOptions{})
		c := ts.dial(t, "t")
		full := bytes.Repeat([]byte{0xff}, size)
		if _, err := c.WriteAt(full, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.Zero(4096, 8192); err != nil {
			t.Fatal(err)
		}
		if err := c.Request(wire.CmdWriteZeroes, wire.CmdFlagNoHole|wire.CmdFlagFUA, 20000, 1000, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Request(wire.CmdTrim, 0, 100000, 10000, nil, nil); err != nil { // unaligned trim
			t.Fatal(err)
		}
		if err := c.Discard(200<<10, 64<<10); err != nil {
			t.Fatal(err)
		}
		got := memContent(t, mem)
		for i, b := range got {
			i := int64(i)
			zeroed := i >= 4096 && i < 12288 || i >= 20000 && i < 21000
			trimmed := i >= 100000 && i < 110000 || i >= 200<<10 && i < 264<<10
			switch {
			case zeroed && b != 0:
				t.Fatalf("byte %d is %#x after write-zeroes", i, b)
			case !zeroed && !trimmed && b != 0xff:
				t.Fatalf("byte %d is %#x: a zero or trim went outside its range", i, b)
			case trimmed && !discard && b != 0xff:
				t.Fatalf("byte %d changed by a trim on a device that cannot discard", i)
			}
		}
		if discard && got[200<<10] != 0 {
			t.Errorf("aligned trim on a discarding device did not discard")
		}
	}
}

func TestFUAAndFlush(t *testing.T) {
	cnt := device.NewCounting(newMem(t, 1<<20, 512))
	ts := startServer(t, []Export{{Name: "f", Device: cnt}}, ServerOptions{})
	c := ts.dial(t, "f")
	buf := make([]byte, 4096)
	if _, err := c.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Counters().Flushes; n != 0 {
		t.Fatalf("a plain write flushed (%d)", n)
	}
	if err := c.Request(wire.CmdWrite, wire.CmdFlagFUA, 4096, 4096, buf, nil); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Counters().Flushes; n != 1 {
		t.Fatalf("FUA write: %d flushes, want 1", n)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Counters().Flushes; n != 2 {
		t.Fatalf("flush: %d flushes, want 2", n)
	}
}

func TestReadOnlyExport(t *testing.T) {
	mem := newMem(t, 1<<20, 512)
	ts := startServer(t, []Export{{Name: "ro", Device: mem, ReadOnly: true}}, ServerOptions{})
	c := ts.dial(t, "ro")
	if !c.ReadOnly() {
		t.Fatal("client does not see the export read-only")
	}
	buf := make([]byte, 512)
	if _, err := c.WriteAt(buf, 0); !errors.Is(err, strategies.ErrReadOnly) {
		t.Fatalf("client WriteAt: %v, want ErrReadOnly", err)
	}
	// Bypassing the client's own check, the server refuses with EPERM.
	for _, typ := range []uint16{wire.CmdWrite, wire.CmdTrim, wire.CmdWriteZeroes} {
		var data []byte
		if typ == wire.CmdWrite {
			data = buf
		}
		err := c.Request(typ, 0, 0, 512, data, nil)
		var ne *client.Error
		if !errors.As(err, &ne) || ne.Errno != syscall.EPERM || !errors.Is(err, strategies.ErrReadOnly) {
			t.Fatalf("%s on a read-only export: %v, want EPERM", wire.CmdName(typ), err)
		}
	}
	if _, err := c.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestBadRequests(t *testing.T) {
	const size = 1 << 20
	ts := startServer(t, []Export{{Name: "b", Device: newMem(t, size, 512)}}, ServerOptions{})
	c := ts.dial(t, "b")
	buf := make([]byte, 512)
	for _, tc := range []struct {
		name        string
		typ, flags  uint16
		off         int64
		n           uint32
		data        []byte
		errno       syscall.Errno
		errContains string
	}{
		{"read past end", wire.CmdRead, 0, size, 512, nil, syscall.EINVAL, "EINVAL"},
		{"read at huge offset", wire.CmdRead, 0, -512, 512, nil, syscall.EINVAL, "EINVAL"},
		{"write past end", wire.CmdWrite, 0, size - 256, 512, buf, syscall.ENOSPC, "ENOSPC"},
		{"trim past end", wire.CmdTrim, 0, size, 1 << 30, nil, syscall.ENOSPC, "ENOSPC"},
		{"oversized read", wire.CmdRead, 0, 0, MaxRequest + 1, nil, syscall.EINVAL, "EINVAL"},
		{"unknown command", 99, 0, 0, 0, nil, syscall.EINVAL, "command 99"},
		{"cache command", 5, 0, 0, 512, nil, syscall.EINVAL, "EINVAL"},
		{"unknown flag", wire.CmdRead, 1 << 7, 0, 512, nil, syscall.EINVAL, "EINVAL"},
		{"no-hole on a write", wire.CmdWrite, wire.CmdFlagNoHole, 0, 512, buf, syscall.EINVAL, "EINVAL"},
	} {
		err := c.Request(tc.typ, tc.flags, tc.off, tc.n, tc.data, nil)
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.errContains) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.errno)
		}
		// The stream stays in step: a good request still works.
		if _, err := c.ReadAt(buf, 0); err != nil {
			t.Fatalf("after %s: %v", tc.name, err)
		}
	}
	if st := ts.Stats()["b"]; st.Errors != 9 {
		t.Errorf("%d errors counted, want 9", st.Errors)
	}
}

// TestOversizedWriteAllocatesNothing sends a write longer than MaxRequest:
// the server must skip its payload without buffering it.
func TestOversizedWriteAllocatesNothing(t *testing.T) {
	ts := startServer(t, []Export{{Name: "o", Device: newMem(t, 1<<20, 512)}}, ServerOptions{})
	c := ts.dial(t, "o")
	payload := make([]byte, 2*MaxRequest)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := c.Request(wire.CmdWrite, 0, 0, uint32(len(payload)), payload, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("oversized write: %v, want EINVAL", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("serving a %d-byte write allocated %d bytes", len(payload), grew)
	}
	buf := make([]byte, 512)
	if _, err := c.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
}

func TestBadMagicDropsConnection(t *testing.T) {
	var log syncBuffer
	ts := startServer(t, []Export{{Name: "m", Device: newMem(t, 1<<20, 512)}}, ServerOptions{Logf: log.logf})
	rc := ts.dialRaw(t)
	rc.enterTransmission(t, "m")
	rc.Write(make([]byte, wire.RequestLen)) // all zeros: not a request
	if _, err := rc.br.ReadByte(); err == nil {
		t.Fatal("the server answered garbage instead of dropping the connection")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		log.mu.Lock()
		s := string(log.b)
		log.mu.Unlock()
		if strings.Contains(s, "bad magic") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the bad magic: %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeviceErrorsBecomeEIO(t *testing.T) {
	mem := newMem(t, 1<<20, 512)
	faulty := device.NewFaulty(mem, device.FailWhen(device.OpWrite, 8192, 12288, nil))
	ts := startServer(t, []Export{{Name: "e", Device: faulty}}, ServerOptions{})
	c := ts.dial(t, "e")
	buf := make([]byte, 4096)
	if _, err := c.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.WriteAt(buf, 8192)
	var ne *client.Error
	if !errors.As(err, &ne) || ne.Errno != syscall.EIO || ne.Op != "write" || ne.Off != 8192 {
		t.Fatalf("write onto a failing range: %v, want EIO", err)
	}
	if _, err := c.ReadAt(buf, 8192); err != nil {
		t.Fatal(err)
	}
}

func TestManyConnections(t *testing.T) {
	const size = 4 << 20
	mem := newMem(t, size, 512)
	ts := startServer(t, []Export{{Name: "m", Device: mem}}, ServerOptions{})
	const conns, workers, ops = 4, 8, 40
	region := int64(size / (conns * workers))
	var wg sync.WaitGroup
	for ci := 0; ci < conns; ci++ {
		c := ts.dial(t, "m")
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(ci), uint64(w)))
				base := int64(ci*workers+w) * region
				mine := make([]byte, region)
				for i := 0; i < ops; i++ {
					n := int64(1+rng.IntN(8)) * 512
					off := rng.Int64N((region-n)/512) * 512
					if rng.IntN(3) > 0 {
						data := randBytes(rng, int(n))
						if _, err := c.WriteAt(data, base+off); err != nil {
							t.Error(err)
							return
						}
						copy(mine[off:], data)
					} else {
						got := make([]byte, n)
						if _, err := c.ReadAt(got, base+off); err != nil {
							t.Error(err)
							return
						}
						if !bytes.Equal(got, mine[off:off+n]) {
							t.Errorf("conn %d worker %d: read back differs", ci, w)
							return
						}
					}
				}
				if err := c.Flush(); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
}

// slowDev delays writes so that requests are still in progress when a test
// acts, and records how many run at once.
type slowDev struct {
	device.Device
	delay         time.Duration
	started       atomic.Int64
	running, peak atomic.Int64
	flushes       atomic.Int64
}

func (s *slowDev) WriteAt(p []byte, off int64) (int, error) {
	s.started.Add(1)
	n := s.running.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(s.delay)
	s.running.Add(-1)
	return s.Device.WriteAt(p, off)
}

func (s *slowDev) Flush() error {
	s.flushes.Add(1)
	return s.Device.Flush()
}

func TestInFlightBound(t *testing.T) {
	slow := &slowDev{Device: newMem(t, 1<<20, 512), delay: 20 * time.Millisecond}
	ts := startServer(t, []Export{{Name: "s", Device: slow}}, ServerOptions{MaxInFlight: 3})
	c := ts.dial(t, "s")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.WriteAt(make([]byte, 512), int64(i)*512); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := slow.peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak of %d writes in progress, want 2 or 3 (MaxInFlight 3)", p)
	}
}

func TestShutdownDrainsAndFlushes(t *testing.T) {
	slow := &slowDev{Device: newMem(t, 1<<20, 512), delay: 200 * time.Millisecond}
	ts := startServer(t, []Export{{Name: "d", Device: slow}}, ServerOptions{})
	c := ts.dial(t, "d")
	idle := ts.dialRaw(t) // a client still haggling
	const n = 6
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.WriteAt(bytes.Repeat([]byte{byte(i + 1)}, 512), int64(i)*512)
			errs <- err
		}()
	}
	for slow.started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("a write in progress at shutdown failed: %v", err)
		}
	}
	if slow.flushes.Load() == 0 {
		t.Error("Shutdown did not flush the export")
	}
	if _, err := c.ReadAt(make([]byte, 512), 0); err == nil {
		t.Error("IO after shutdown succeeded")
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.br.ReadByte(); err == nil {
		t.Error("a haggling connection survived shutdown")
	}
	got := make([]byte, 512)
	for i := 0; i < n; i++ {
		slow.Device.ReadAt(got, int64(i)*512)
		if got[0] != byte(i+1) {
			t.Errorf("write %d not on the device after shutdown", i)
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, []Export{{Name: "h", Device: newMem(t, 1<<20, 512)}}, ServerOptions{HandshakeTimeout: 100 * time.Millisecond})
	rc := ts.dialRaw(t)
	start := time.Now()
	if _, err := rc.br.ReadByte(); err == nil {
		t.Fatal("server sent data to a silent client")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent client dropped after %v", d)
	}
}
