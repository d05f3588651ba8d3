package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/device/nbd/wire"
	"io"
	"net"
	"testing"
	"time"
)

// expectReply reads one option reply and checks its type.
func (rc *rawConn) expectReply(t *testing.T, opt, typ uint32) []byte {
	t.Helper()
	got, data, err := wire.ReadOptReply(rc.br, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got != typ {
		t.Fatalf("option %d: reply %#x (%q), want %#x", opt, got, data, typ)
	}
	return data
}

func infoData(name string, reqs ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reqs)))
	for _, r := range reqs {
		b = binary.BigEndian.AppendUint16(b, r)
	}
	return b
}

func twoExports(t *testing.T) *testServer {
	return startServer(t, []Export{
		{Name: "alpha", Description: "the first", Device: newMem(t, 1<<20, 512)},
		{Name: "beta", Device: newMem(t, 2<<20, 4096), ReadOnly: true, PreferredBlockSize: 64 << 10},
	}, ServerOptions{})
}

func TestOptionHaggling(t *testing.T) {
	ts := twoExports(t)
	rc := ts.dialRaw(t)
	send := func(opt uint32, data []byte) {
		t.Helper()
		if err := wire.SendOption(rc, opt, data); err != nil {
			t.Fatal(err)
		}
	}
	send(wire.OptList, nil)
	for _, want := range []string{"alpha", "beta"} {
		d := rc.expectReply(t, wire.OptList, wire.RepServer)
		n := binary.BigEndian.Uint32(d)
		if string(d[4:4+n]) != want {
			t.Errorf("listed %q, want %q", d[4:4+n], want)
		}
		if want == "alpha" && string(d[4+n:]) != "the first" {
			t.Errorf("description %q", d[4+n:])
		}
	}
	rc.expectReply(t, wire.OptList, wire.RepAck)

	send(wire.OptList, []byte("x"))
	rc.expectReply(t, wire.OptList, wire.RepErrInvalid)
	send(wire.OptStructuredReply, nil)
	rc.expectReply(t, wire.OptStructuredReply, wire.RepErrUnsup)
	send(wire.OptStartTLS, nil)
	rc.expectReply(t, wire.OptStartTLS, wire.RepErrUnsup)
	send(99, []byte("whatever"))
	rc.expectReply(t, 99, wire.RepErrUnsup)
	send(wire.OptInfo, []byte{0, 0})
	rc.expectReply(t, wire.OptInfo, wire.RepErrInvalid)
	send(wire.OptInfo, []byte{0, 0, 0, 9, 'a', 0, 0}) // name length past the data
	rc.expectReply(t, wire.OptInfo, wire.RepErrInvalid)
	send(wire.OptGo, append(infoData("alpha", wire.InfoName), 0)) // one byte too many
	rc.expectReply(t, wire.OptGo, wire.RepErrInvalid)
	send(wire.OptInfo, infoData("nope"))
	rc.expectReply(t, wire.OptInfo, wire.RepErrUnknown)

	// An option too long to buffer is skipped and refused.
	huge := make([]byte, wire.MaxOption+1)
	send(wire.OptInfo, huge)
	rc.expectReply(t, wire.OptInfo, wire.RepErrTooBig)

	// INFO on beta: export, block size, and the name asked for.
	send(wire.OptInfo, infoData("beta", wire.InfoName, wire.InfoDescription, wire.InfoBlockSize, 77))
	var seen []uint16
	for {
		typ, d, err := wire.ReadOptReply(rc.br, wire.OptInfo)
		if err != nil {
			t.Fatal(err)
		}
		if typ == wire.RepAck {
			break
		}
		if typ != wire.RepInfo {
			t.Fatalf("reply %#x", typ)
		}
		it := binary.BigEndian.Uint16(d)
		seen = append(seen, it)
		switch it {
		case wire.InfoExport:
			size, flags := binary.BigEndian.Uint64(d[2:]), binary.BigEndian.Uint16(d[10:])
			if size != 2<<20 || flags&wire.FlagReadOnly == 0 || flags&wire.FlagHasFlags == 0 || flags&wire.FlagSendTrim != 0 {
				t.Errorf("NBD_INFO_EXPORT size %d flags %#x", size, flags)
			}
		case wire.InfoBlockSize:
			lo, pref, hi := binary.BigEndian.Uint32(d[2:]), binary.BigEndian.Uint32(d[6:]), binary.BigEndian.Uint32(d[10:])
			if lo != 4096 || pref != 64<<10 || hi != MaxRequest {
				t.Errorf("block sizes %d/%d/%d", lo, pref, hi)
			}
		case wire.InfoName:
			if string(d[2:]) != "beta" {
				t.Errorf("NBD_INFO_NAME %q", d[2:])
			}
		default:
			t.Errorf("unexpected info %d (beta has no description)", it)
		}
	}
	if len(seen) != 3 {
		t.Errorf("infos %v, want export, block size, name", seen)
	}

	// GO on the default export (""): alpha; then transmission.
	send(wire.OptGo, infoData(""))
	for {
		typ, _, err := wire.ReadOptReply(rc.br, wire.OptGo)
		if err != nil {
			t.Fatal(err)
		}
		if typ == wire.RepAck {
			break
		}
	}
	var req [wire.RequestLen]byte
	wire.PutRequest(req[:], wire.Request{Type: wire.CmdRead, Handle: 42, Offset: 512, Length: 512})
	rc.Write(req[:])
	var rep [wire.SimpleReplyLen + 512]byte
	if _, err := io.ReadFull(rc.br, rep[:]); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(rep[0:]) != wire.MagicSimpleReply || binary.BigEndian.Uint32(rep[4:]) != 0 || binary.BigEndian.Uint64(rep[8:]) != 42 {
		t.Fatalf("reply header % x", rep[:wire.SimpleReplyLen])
	}
	// DISC: the server closes.
	wire.PutRequest(req[:], wire.Request{Type: wire.CmdDisc})
	rc.Write(req[:])
	if _, err := rc.br.ReadByte(); err != io.EOF {
		t.Errorf("after NBD_CMD_DISC: %v, want EOF", err)
	}
}

func TestExportNameOption(t *testing.T) {
	ts := twoExports(t)
	for _, noZeroes := range []bool{true, false} {
		nc, err := net.Dial("unix", ts.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		var g [18]byte
		io.ReadFull(nc, g[:])
		cflags := uint32(wire.FlagCFixedNewstyle)
		if noZeroes {
			cflags |= wire.FlagCNoZeroes
		}
		nc.Write(binary.BigEndian.AppendUint32(nil, cflags))
		wire.SendOption(nc, wire.OptExportName, []byte("beta"))
		want := 10
		if !noZeroes {
			want += 124
		}
		got := make([]byte, want)
		if _, err := io.ReadFull(nc, got); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint64(got) != 2<<20 || binary.BigEndian.Uint16(got[8:])&wire.FlagReadOnly == 0 {
			t.Errorf("export name reply % x", got[:10])
		}
		if !bytes.Equal(got[10:], make([]byte, want-10)) {
			t.Errorf("reserved bytes not zero")
		}
		// Transmission works right after.
		var req [wire.RequestLen]byte
		wire.PutRequest(req[:], wire.Request{Type: wire.CmdFlush, Handle: 7})
		nc.Write(req[:])
		var rep [wire.SimpleReplyLen]byte
		if _, err := io.ReadFull(nc, rep[:]); err != nil || binary.BigEndian.Uint64(rep[8:]) != 7 {
			t.Fatalf("flush reply % x, %v", rep, err)
		}
	}
}

func TestHandshakeEndings(t *testing.T) {
	ts := twoExports(t)
	closed := func(name string, rc *rawConn) {
		t.Helper()
		rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := rc.br.ReadByte(); err != io.EOF {
			t.Errorf("%s: connection not closed: %v", name, err)
		}
	}
	// Unknown export with NBD_OPT_EXPORT_NAME: the server must hang up.
	rc := ts.dialRaw(t)
	wire.SendOption(rc, wire.OptExportName, []byte("nope"))
	closed("unknown export", rc)
	// ABORT: an acknowledgement, then the end.
	rc = ts.dialRaw(t)
	wire.SendOption(rc, wire.OptAbort, nil)
	rc.expectReply(t, wire.OptAbort, wire.RepAck)
	closed("abort", rc)
	// Bad option magic.
	rc = ts.dialRaw(t)
	rc.Write(make([]byte, wire.OptHeaderLen))
	closed("bad option magic", rc)
	// Unknown client flags.
	nc, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	var g [18]byte
	io.ReadFull(nc, g[:])
	nc.Write([]byte{0, 0, 0, 0x81})
	if _, err := nc.Read(g[:1]); err != io.EOF {
		t.Errorf("unknown client flags: %v, want EOF", err)
	}
}

func TestClientAgainstOwnServer(t *testing.T) {
	ts := twoExports(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := client.List(ctx, "unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0] != (client.ExportEntry{Name: "alpha", Description: "the first"}) || list[1].Name != "beta" {
		t.Errorf("List: %+v", list)
	}
	c, err := client.DialURI(ctx, wire.FormatURI("unix", ts.sock, "beta"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != 2<<20 || c.SectorSize() != 4096 || !c.ReadOnly() || c.Name() != "beta" {
		t.Errorf("beta: size %d sector %d ro %v", c.Size(), c.SectorSize(), c.ReadOnly())
	}
	if info := c.Info(); info.Kind != "nbd" || info.PhysicalSector != 64<<10 || info.Discard {
		t.Errorf("Info %+v", info)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if _, err := c.ReadAt(make([]byte, 4096), 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	if _, err := client.Dial(ctx, "unix", ts.sock, "nope"); err == nil {
		t.Error("Dial of an unknown export succeeded")
	}
	c = ts.dial(t, "alpha")
	if _, err := c.ReadAt(make([]byte, 100), 0); err == nil {
		t.Error("unaligned ReadAt succeeded")
	}
	if _, err := c.WriteAt(make([]byte, 512), 1<<20); err == nil {
		t.Error("WriteAt past the end succeeded")
	}
}

func TestURIs(t *testing.T) {
	for _, tc := range []struct{ network, address, name, uri string }{
		{"unix", "/tmp/a b+c/s.sock", "vol-1", "nbd+unix:///vol-1?socket=/tmp/a%20b%2Bc/s.sock"},
		{"tcp", "127.0.0.1:10810", "snap?1", "nbd://127.0.0.1:10810/snap%3F1"},
		{"tcp", "[::1]:10809", "", "nbd://[::1]:10809/"},
	} {
		if got := wire.FormatURI(tc.network, tc.address, tc.name); got != tc.uri {
			t.Errorf("wire.FormatURI(%q, %q, %q) = %q, want %q", tc.network, tc.address, tc.name, got, tc.uri)
		}
		n, a, name, err := wire.ParseURI(tc.uri)
		if err != nil || n != tc.network || a != tc.address || name != tc.name {
			t.Errorf("wire.ParseURI(%q) = %q %q %q %v", tc.uri, n, a, name, err)
		}
	}
	if _, a, _, _ := wire.ParseURI("nbd://localhost/x"); a != "localhost:10809" {
		t.Errorf("default port: %q", a)
	}
	for _, bad := range []string{"nbds://h/x", "nbd+unix:///x", "nbd:///x", "http://h/x", "::"} {
		if _, _, _, err := wire.ParseURI(bad); err == nil {
			t.Errorf("wire.ParseURI(%q) succeeded", bad)
		}
	}
}

// TestDialTimesOut dials a server that accepts and then says nothing.
func TestDialTimesOut(t *testing.T) {
	sock := t.TempDir() + "/silent.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, withDeadline := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		if withDeadline {
			ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
		} else {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		start := time.Now()
		if _, err := client.Dial(ctx, "unix", sock, "x"); err == nil {
			t.Fatal("Dial of a silent server succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial returned after %v", d)
		}
		cancel()
	}
}
