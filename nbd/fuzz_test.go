package nbd

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/wire"
)

// fuzzServer is a server of two small exports for fuzzing; small devices
// keep every in-range request small, and MaxInFlight bounds how many run.
func fuzzServer(t *testing.T) *Server {
	mk := func(sector int) device.Device {
		m, err := device.NewMem(256<<10, device.MemOptions{SectorSize: sector})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	s, err := NewServer([]Export{
		{Name: "rw", Device: mk(512)},
		{Name: "ro", Device: mk(4096), ReadOnly: true},
	}, ServerOptions{MaxInFlight: 4, MaxInFlightBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fuzzRW struct {
	io.Reader
	io.Writer
}

func appendRequest(b []byte, r wire.Request) []byte {
	var h [wire.RequestLen]byte
	wire.PutRequest(h[:], r)
	return append(b, h[:]...)
}

// FuzzParseRequest feeds arbitrary bytes to the transmission phase: the
// header parser, then the whole request loop of a connection on an export.
// Neither may panic, and no request may make the server allocate more than
// the export size (out-of-range and oversized requests allocate nothing).
func FuzzParseRequest(f *testing.F) {
	var seed []byte
	seed = appendRequest(seed, wire.Request{Type: wire.CmdWrite, Handle: 1, Offset: 100, Length: 700})
	seed = append(seed, bytes.Repeat([]byte{0xab}, 700)...)
	seed = appendRequest(seed, wire.Request{Type: wire.CmdRead, Handle: 2, Offset: 50, Length: 1000})
	seed = appendRequest(seed, wire.Request{Type: wire.CmdWriteZeroes, Flags: wire.CmdFlagNoHole, Handle: 3, Offset: 1, Length: 5000})
	seed = appendRequest(seed, wire.Request{Type: wire.CmdTrim, Flags: wire.CmdFlagFUA, Handle: 4, Offset: 0, Length: 4096})
	seed = appendRequest(seed, wire.Request{Type: wire.CmdFlush, Handle: 5})
	f.Add(seed)
	f.Add(appendRequest(nil, wire.Request{Type: wire.CmdWrite, Length: 0xffffffff}))
	f.Add(appendRequest(nil, wire.Request{Type: wire.CmdRead, Offset: 1 << 63, Length: 512}))
	f.Add(appendRequest(appendRequest(nil, wire.Request{Type: 99}), wire.Request{Type: wire.CmdDisc}))
	f.Add([]byte("garbage that is not a request at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := wire.ParseRequest(data); err == nil {
			var h [wire.RequestLen]byte
			wire.PutRequest(h[:], r)
			if !bytes.Equal(h[:], data[:wire.RequestLen]) {
				t.Fatalf("request %+v re-encodes differently", r)
			}
		} else if len(data) >= wire.RequestLen && binary.BigEndian.Uint32(data) == wire.MagicRequest {
			t.Fatalf("a well-formed header was refused: %v", err)
		}
		s := fuzzServer(t)
		for _, e := range s.exports {
			c := newConn(s, nil, fuzzRW{bytes.NewReader(data), io.Discard})
			c.transmit(e)
		}
	})
}

// FuzzNegotiation feeds arbitrary client bytes to a connection from its
// first byte: option haggling, then (if the bytes choose an export) the
// transmission phase. Option data beyond 64 KiB is skipped, not buffered.
func FuzzNegotiation(f *testing.F) {
	flags := binary.BigEndian.AppendUint32(nil, wire.FlagCFixedNewstyle|wire.FlagCNoZeroes)
	opt := func(b []byte, o uint32, data []byte) []byte {
		b = binary.BigEndian.AppendUint64(b, wire.MagicOpt)
		b = binary.BigEndian.AppendUint32(b, o)
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	goRW := opt(append([]byte{}, flags...), wire.OptGo, infoData("rw", wire.InfoBlockSize, wire.InfoName))
	f.Add(appendRequest(goRW, wire.Request{Type: wire.CmdRead, Length: 4096}))
	f.Add(opt(opt(append([]byte{}, flags...), wire.OptList, nil), wire.OptExportName, []byte("ro")))
	f.Add(opt(opt(append([]byte{}, flags...), wire.OptInfo, infoData("nope")), wire.OptAbort, nil))
	f.Add(opt(append([]byte{}, flags...), wire.OptStructuredReply, nil))
	f.Add(append(append([]byte{}, flags...), 'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzServer(t)
		c := newConn(s, nil, fuzzRW{bytes.NewReader(data), io.Discard})
		e, err := c.negotiate()
		if err == nil && e != nil {
			c.transmit(e)
		}
	})
}
