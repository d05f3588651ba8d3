package nbd

import (
	"bytes"
	"encoding/binary"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// enterTransmission takes rc from the greeting to the transmission phase
// of export name with NBD_OPT_EXPORT_NAME.
func (rc *rawConn) enterTransmission(t *testing.T, name string) {
	t.Helper()
	if err := wire.SendOption(rc, wire.OptExportName, []byte(name)); err != nil {
		t.Fatal(err)
	}
	var b [10]byte // size and flags; no zeroes (the greeting asked)
	if _, err := io.ReadFull(rc.br, b[:]); err != nil {
		t.Fatal(err)
	}
}

// onlyConn returns the one connection of s in transmission.
func onlyConn(t *testing.T, s *Server) *conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		var found *conn
		for c := range s.conns {
			if c.transmitting {
				found = c
			}
		}
		s.mu.Unlock()
		if found != nil {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection in transmission")
		}
		runtime.Gosched()
	}
}

// TestMemoryBoundedWhenRepliesNotRead pipelines requests without reading
// a single reply, as a slow or hostile client does: the server must stop
// reading the connection's requests once the buffers it holds for them
// (read buffer, request payloads, replies queued or being written) reach
// MaxInFlightBytes, and never hold more. It then reads every reply and
// checks them against the device.
func TestMemoryBoundedWhenRepliesNotRead(t *testing.T) {
	type req struct {
		typ      uint16
		off, len int64
	}
	big := func(n int) []req {
		var rs []req
		for i := 0; i < n; i++ {
			rs = append(rs, req{wire.CmdRead, int64(i%2) * MaxRequest, MaxRequest})
		}
		return rs
	}
	mixed := func() []req {
		rng := rand.New(rand.NewPCG(7, 7))
		var rs []req
		for i := 0; i < 200; i++ {
			n := rng.Int64N(4<<20) + 1
			off := rng.Int64N(64<<20 - n)
			switch i % 5 {
			case 0:
				rs = append(rs, req{wire.CmdWrite, off, n})
			case 1:
				rs = append(rs, req{wire.CmdRead, 64 << 20, 512}) // out of range: an error reply
			case 2:
				rs = append(rs, req{wire.CmdFlush, 0, 0})
			default:
				rs = append(rs, req{wire.CmdRead, off, n})
			}
		}
		return rs
	}
	for _, tc := range []struct {
		name   string
		opts   ServerOptions
		reqs   []req
		sector int
	}{
		{"32 MiB reads, default bound", ServerOptions{}, big(10), 512},
		{"unaligned reads and writes, small bound", ServerOptions{MaxInFlight: 1000, MaxInFlightBytes: 1}, mixed(), 4096},
		{"error replies only", ServerOptions{MaxInFlight: 64, MaxInFlightBytes: 1}, func() []req {
			rs := make([]req, 200000)
			for i := range rs {
				rs[i] = req{wire.CmdRead, 64 << 20, 512}
			}
			return rs
		}(), 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 64 << 20
			mem := newMem(t, size, tc.sector)
			want := randBytes(rand.New(rand.NewPCG(1, 2)), size)
			if _, err := mem.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			ts := startServer(t, []Export{{Name: "m", Device: mem}}, tc.opts)
			bound := ts.Server.opts.MaxInFlightBytes
			rc := ts.dialRaw(t)
			rc.SetDeadline(time.Time{})
			rc.enterTransmission(t, "m")
			c := onlyConn(t, ts.Server)

			// Send everything from a goroutine: it blocks once the server
			// stops reading, which is the point.
			payload := randBytes(rand.New(rand.NewPCG(3, 4)), 4<<20)
			var stream []byte
			for i, r := range tc.reqs {
				stream = appendRequest(stream, wire.Request{Type: r.typ, Handle: uint64(i), Offset: uint64(r.off), Length: uint32(r.len)})
				if r.typ == wire.CmdWrite {
					stream = append(stream, payload[:r.len]...)
				}
			}
			sent := make(chan error, 1)
			go func() {
				_, err := rc.Write(stream)
				sent <- err
			}()

			// Wait until the server is stuck: its reader waits for room
			// and no request is being served, or it served every request,
			// or nothing moved for a while (the reader itself blocked
			// writing replies).
			last, lastChange := int64(-1), time.Now()
			for {
				stuck := c.budget.waiting.Load() && c.inService.Load() == 0
				n := c.answered.Load()
				if stuck || n == int64(len(tc.reqs)) || time.Since(lastChange) > 2*time.Second {
					break
				}
				if n != last {
					last, lastChange = n, time.Now()
				}
				time.Sleep(time.Millisecond)
			}
			if p := c.peak.Load(); p > bound {
				t.Errorf("the connection held %d bytes (%.1f MiB) with no reply read, bound %d (%.1f MiB)",
					p, float64(p)/(1<<20), bound, float64(bound)/(1<<20))
			}

			// Drain: every reply comes once, correct. Writes of the batch
			// may land before or after a read of the same sectors, so reads
			// are checked where no write of the batch overlaps them.
			written := make([]bool, size/512+1)
			for _, r := range tc.reqs {
				if r.typ == wire.CmdWrite {
					for s := r.off / 512; s <= (r.off+r.len-1)/512; s++ {
						written[s] = true
					}
				}
			}
			overlapsWrite := func(r req) bool {
				for s := r.off / 512; s <= (r.off+r.len-1)/512; s++ {
					if written[s] {
						return true
					}
				}
				return false
			}
			seen := make([]bool, len(tc.reqs))
			for range tc.reqs {
				var h [wire.SimpleReplyLen]byte
				if _, err := io.ReadFull(rc.br, h[:]); err != nil {
					t.Fatalf("reply header: %v", err)
				}
				if m := binary.BigEndian.Uint32(h[:]); m != wire.MagicSimpleReply {
					t.Fatalf("reply magic %#x", m)
				}
				errno, handle := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:])
				if handle >= uint64(len(tc.reqs)) || seen[handle] {
					t.Fatalf("reply for handle %d: unknown or twice", handle)
				}
				seen[handle] = true
				r := tc.reqs[handle]
				wantErr := r.typ == wire.CmdRead && r.off >= size
				if (errno != 0) != wantErr {
					t.Fatalf("request %d (%+v): errno %d", handle, r, errno)
				}
				if r.typ != wire.CmdRead || errno != 0 {
					continue
				}
				got := make([]byte, r.len)
				if _, err := io.ReadFull(rc.br, got); err != nil {
					t.Fatalf("reply data of request %d: %v", handle, err)
				}
				if !overlapsWrite(r) && !bytes.Equal(got, want[r.off:r.off+r.len]) {
					t.Fatalf("read %d+%d returned wrong data", r.off, r.len)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if p := c.peak.Load(); p > bound {
				t.Errorf("peak %d bytes while draining, bound %d", p, bound)
			}
		})
	}
}
