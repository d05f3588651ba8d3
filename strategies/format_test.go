package strategies_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/cow"
	_ "github.com/snapbench/snapbench/strategies/full"
	_ "github.com/snapbench/snapbench/strategies/linked"
	_ "github.com/snapbench/snapbench/strategies/mirror"
	_ "github.com/snapbench/snapbench/strategies/row"
)

// devSum is a CRC-32C of a device's whole content.
func devSum(t *testing.T, dev device.Device) uint32 {
	t.Helper()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	buf := device.Alloc(1 << 20)
	for off := int64(0); off < dev.Size(); off += int64(len(buf)) {
		n := min(int64(len(buf)), dev.Size()-off)
		if _, err := dev.ReadAt(buf[:n], off); err != nil {
			t.Fatal(err)
		}
		h.Write(buf[:n])
	}
	return h.Sum32()
}

// populated returns a memory device holding engine name with two volumes
// (one written and flushed, and a snapshot of it where supported).
func populated(t *testing.T, name string) (*device.Mem, []strategies.VolumeInfo) {
	t.Helper()
	mem := device.MustMem(24 << 20)
	e, err := strategies.Format(name, mem, strategies.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatalf("Format %s: %v", name, err)
	}
	id, err := e.Create("vol", 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x5a}, 64<<10)
	buf := device.Alloc(len(data))
	copy(buf, data)
	if _, err := v.WriteAt(buf, 128<<10); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if e.Caps().Snapshot {
		if _, err := e.Snapshot(id, "snap"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	vols := e.Volumes()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return mem.Reopen(), vols
}

// TestRefusedFormatWritesNothing: a format that is refused (bad options,
// no space for the layout, a missing replica device) leaves the device
// byte for byte unchanged, so the engine it held reopens with its volumes.
func TestRefusedFormatWritesNothing(t *testing.T) {
	tiny := filepath.Join(t.TempDir(), "tiny-replica.img")
	if err := os.WriteFile(tiny, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	type bad struct {
		name   string
		engine string
		opts   strategies.Options
	}
	cases := []bad{
		{"cow delta-percent=0", "cow", strategies.Options{Params: p("delta-percent", "0")}},
		{"cow delta-percent=101", "cow", strategies.Options{Params: p("delta-percent", "101")}},
		{"cow delta-percent=abc", "cow", strategies.Options{Params: p("delta-percent", "abc")}},
		{"cow delta-min=-1", "cow", strategies.Options{Params: p("delta-min", "-1")}},
		{"cow max-volumes=0", "cow", strategies.Options{Params: p("max-volumes", "0")}},
		{"cow max-volumes too many for the device", "cow", strategies.Options{Params: p("max-volumes", "100000000")}},
		{"row metadata-percent=0", "row", strategies.Options{Params: p("metadata-percent", "0")}},
		{"row metadata-percent=100", "row", strategies.Options{Params: p("metadata-percent", "100")}},
		{"row cache-mb=0", "row", strategies.Options{Params: p("cache-mb", "0")}},
		{"row expire-snapshots-on-full=maybe", "row", strategies.Options{Params: p("expire-snapshots-on-full", "maybe")}},
		{"mirror intent-region=3000", "mirror", strategies.Options{Params: p("intent-region", "3000")}},
		{"mirror intent-region=1024", "mirror", strategies.Options{Params: p("intent-region", "1024")}},
		{"mirror auto-mirrors=17", "mirror", strategies.Options{Params: p("auto-mirrors", "17")}},
		{"mirror background=maybe", "mirror", strategies.Options{Params: p("background", "maybe")}},
		{"linked replica=maybe", "linked", strategies.Options{Params: p("replica", "maybe")}},
		{"linked missing replica-device", "linked", strategies.Options{Params: p("replica-device", filepath.Join(t.TempDir(), "missing.img"))}},
		{"linked replica-device too small", "linked", strategies.Options{Params: p("replica-device", tiny)}},
		{"full chunk too big for the device", "full", strategies.Options{ChunkSize: 1 << 20, Params: nil}},
	}
	for _, name := range strategies.ReferenceNames() {
		cases = append(cases,
			bad{name + " unknown option", name, strategies.Options{Params: p("nope", "1")}},
			bad{name + " chunk 3000", name, strategies.Options{ChunkSize: 3000}})
	}
	type image struct {
		mem  *device.Mem
		vols []strategies.VolumeInfo
		sum  uint32
	}
	images := map[string]image{}
	for _, held := range strategies.ReferenceNames() {
		mem, vols := populated(t, held)
		images[held] = image{mem, vols, devSum(t, mem)}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Each engine's invalid options are tried on a device holding
			// every reference engine in turn.
			for _, held := range strategies.ReferenceNames() {
				img := images[held]
				mem, vols, before := img.mem.Reopen(), img.vols, img.sum
				if c.name == "full chunk too big for the device" {
					// A device just large enough for a small-chunk engine.
					mem, vols = smallDevice(t)
					before = devSum(t, mem)
				}
				e, err := strategies.Format(c.engine, mem, c.opts)
				if err == nil {
					e.Close()
					t.Fatalf("format %s over %s with %+v: accepted, want refused", c.engine, held, c.opts)
				}
				if errors.Is(err, device.ErrInjected) {
					t.Fatalf("unexpected IO error: %v", err)
				}
				if after := devSum(t, mem); after != before {
					t.Fatalf("format %s over %s refused (%v) but the device changed", c.engine, held, err)
				}
				re, err := strategies.Open(mem.Reopen())
				if err != nil {
					t.Fatalf("reopen %s after the refused format: %v", held, err)
				}
				if got := re.Volumes(); len(got) != len(vols) {
					t.Fatalf("reopen %s: %d volumes, want %d", held, len(got), len(vols))
				}
				if err := re.Check(); err != nil {
					t.Fatalf("check %s after the refused format: %v", held, err)
				}
				re.Close()
				if c.name == "full chunk too big for the device" {
					break
				}
			}
		})
	}
}

// smallDevice: raw with 4 KiB chunks on a device too small for full with
// 1 MiB chunks.
func smallDevice(t *testing.T) (*device.Mem, []strategies.VolumeInfo) {
	t.Helper()
	mem := device.MustMem(2<<20 + 64<<10)
	e, err := strategies.Format("raw", mem, strategies.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create("vol", 32<<10); err != nil {
		t.Fatal(err)
	}
	vols := e.Volumes()
	e.Close()
	return mem.Reopen(), vols
}

// TestFormatSuperblockWriteErrors: a failed write or flush of either
// superblock copy fails Format (it was once dropped by a shadowed err).
func TestFormatSuperblockWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		kind device.OpKind
		copy int64 // superblock copy whose write fails (flush: fail the flush after it)
	}{
		{"write copy 0", device.OpWrite, 0},
		{"write copy 1", device.OpWrite, 1},
		{"flush after copy 0", device.OpFlush, 0},
		{"flush after copy 1", device.OpFlush, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var lastSuper int64 = -1 // copy most recently written
			inj := device.InjectorFunc(func(op device.Op) device.Fault {
				// The erase writes both copies in one 8 KiB write; a
				// superblock copy is one 4 KiB write at 0 or 4096.
				if op.Kind == device.OpWrite && op.Len == 4096 && op.Off < 8192 {
					lastSuper = op.Off / 4096
					if c.kind == device.OpWrite && lastSuper == c.copy {
						return device.Fault{Err: device.ErrInjected}
					}
				}
				if op.Kind == device.OpFlush && c.kind == device.OpFlush && lastSuper == c.copy {
					return device.Fault{Err: device.ErrInjected}
				}
				return device.Fault{}
			})
			e, err := strategies.Format("raw", device.NewFaulty(device.MustMem(8<<20), inj), strategies.Options{})
			if err == nil {
				e.Close()
				t.Fatal("Format succeeded although a superblock write failed")
			}
			if !errors.Is(err, device.ErrInjected) {
				t.Fatalf("got %v, want the injected error", err)
			}
		})
	}
}

// TestSuperblockDamageAndRepair: each kind of damage to one superblock copy
// is detected, naming the copy; the repair restores it from the other copy
// byte for byte, and a second repair writes nothing. Damage to both copies
// is refused.
func TestSuperblockDamageAndRepair(t *testing.T) {
	zero := func(b []byte) { clear(b) }
	flip := func(b []byte) { b[100] ^= 0x40 }
	crc := func(b []byte) { b[4095] ^= 1 }
	cases := []struct {
		name   string
		damage [2]func([]byte)
		want   string // in the damage line; "" when both copies are bad
	}{
		{"copy 0 destroyed", [2]func([]byte){zero, nil}, "superblock copy 0 (offset 0) is destroyed (no superblock magic)"},
		{"copy 1 destroyed", [2]func([]byte){nil, zero}, "superblock copy 1 (offset 4096) is destroyed (no superblock magic)"},
		{"copy 0 bit flip", [2]func([]byte){flip, nil}, "superblock copy 0 (offset 0) is damaged (superblock checksum mismatch)"},
		{"copy 1 crc", [2]func([]byte){nil, crc}, "superblock copy 1 (offset 4096) is damaged (superblock checksum mismatch)"},
		{"both destroyed", [2]func([]byte){zero, flip}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := device.MustMem(8 << 20)
			e, err := strategies.Format("raw", mem, strategies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			e.Close()
			good := device.Alloc(8192)
			mem.ReadAt(good, 0)
			if d, err := strategies.CheckSuperblocks(mem); err != nil || len(d) != 0 {
				t.Fatalf("fresh format: damage %v, err %v", d, err)
			}
			if d, err := strategies.RepairSuperblocks(mem); err != nil || len(d) != 0 || mem.Unflushed() != 0 {
				t.Fatalf("repair of intact copies: %v, %v", d, err)
			}
			bad := append([]byte(nil), good...)
			for i, f := range c.damage {
				if f != nil {
					f(bad[i*4096 : (i+1)*4096])
				}
			}
			buf := device.Alloc(8192)
			copy(buf, bad)
			mem.WriteAt(buf, 0)
			damage, err := strategies.CheckSuperblocks(mem)
			if c.want == "" {
				if !errors.Is(err, strategies.ErrCorrupt) {
					t.Fatalf("check: %v, %v; want ErrCorrupt", damage, err)
				}
				before := devSum(t, mem)
				if _, err := strategies.RepairSuperblocks(mem); !errors.Is(err, strategies.ErrCorrupt) {
					t.Fatalf("repair with no good copy: %v, want ErrCorrupt", err)
				}
				if devSum(t, mem) != before {
					t.Fatal("a refused repair wrote to the device")
				}
				return
			}
			if err != nil || len(damage) != 1 || damage[0].String() != c.want {
				t.Fatalf("check: %v, %v; want one line %q", damage, err, c.want)
			}
			// Open still works from the intact copy.
			if e, err := strategies.Open(mem); err != nil {
				t.Fatalf("open with one intact copy: %v", err)
			} else {
				e.Close()
			}
			fixed, err := strategies.RepairSuperblocks(mem)
			if err != nil || len(fixed) != 1 || fixed[0] != damage[0] {
				t.Fatalf("repair: %v, %v", fixed, err)
			}
			got := device.Alloc(8192)
			mem.ReadAt(got, 0)
			if !bytes.Equal(got, good) {
				t.Fatal("repaired superblock copies differ from the formatted ones")
			}
			if d, err := strategies.CheckSuperblocks(mem); err != nil || len(d) != 0 {
				t.Fatalf("after repair: %v, %v", d, err)
			}
			before := devSum(t, mem)
			if d, err := strategies.RepairSuperblocks(mem); err != nil || len(d) != 0 || devSum(t, mem) != before {
				t.Fatalf("second repair: %v, %v (or it wrote)", d, err)
			}
		})
	}
}

// TestSuperblockOutOfDate: a valid copy with an older sequence is reported
// and repaired.
func TestSuperblockOutOfDate(t *testing.T) {
	mem := device.MustMem(8 << 20)
	e, err := strategies.Format("raw", mem, strategies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	buf := device.Alloc(4096)
	mem.ReadAt(buf, 4096)
	sb, err := strategies.DecodeSuperblock(buf)
	if err != nil {
		t.Fatal(err)
	}
	sb.Seq = 7
	newer, err := strategies.EncodeSuperblock(sb)
	if err != nil {
		t.Fatal(err)
	}
	mem.WriteAt(newer, 4096)
	d, err := strategies.CheckSuperblocks(mem)
	if err != nil || len(d) != 1 || d[0].String() != "superblock copy 0 (offset 0) is out of date (sequence 1, copy 1 has 7)" {
		t.Fatalf("check: %v, %v", d, err)
	}
	if _, err := strategies.RepairSuperblocks(mem); err != nil {
		t.Fatal(err)
	}
	mem.ReadAt(buf, 0)
	if !bytes.Equal(buf, newer) {
		t.Fatal("copy 0 not rewritten from copy 1")
	}
}
