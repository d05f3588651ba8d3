package runner

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/full"
	_ "github.com/snapbench/snapbench/strategies/linked"
	_ "github.com/snapbench/snapbench/strategies/row"
)

func TestStackThreeLayers(t *testing.T) {
	mem := device.MustMem(256 << 20)
	counting := device.NewCounting(mem)
	st, err := formatStack("linked/row/full", counting, func(string) strategies.Options { return strategies.Options{} })
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if len(st.lower) != 2 || len(st.vols) != 2 || st.top.Name() != "linked" {
		t.Fatalf("layers: top %s, %d lower, %d volumes", st.top.Name(), len(st.lower), len(st.vols))
	}
	id, err := st.top.Create("disk", 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := st.top.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	before := counting.Counters()
	data := bytes.Repeat([]byte{0x5a}, 64<<10)
	buf := device.Alloc(len(data))
	copy(buf, data)
	if _, err := vol.WriteAt(buf, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := st.flush(); err != nil {
		t.Fatal(err)
	}
	if d := counting.Counters().Sub(before); d.WriteBytes < int64(len(data)) {
		t.Errorf("the bottom device saw %d bytes written for %d written on top", d.WriteBytes, len(data))
	}
	got := device.Alloc(len(data))
	if _, err := vol.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back through three layers: %v", err)
	}
	vol.Close()
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	if got := st.options(); bytes.Count([]byte(got), []byte(" / ")) != 2 {
		t.Errorf("options %q: want three layers", got)
	}
}

func TestStackFormatFailure(t *testing.T) {
	mem := device.MustMem(64 << 20)
	// A 1 KiB chunk is refused by every engine: the top layer's format
	// fails after the lower one succeeded, which must be closed again.
	opts := func(layer string) strategies.Options {
		if layer == "linked" {
			return strategies.Options{ChunkSize: 1024}
		}
		return strategies.Options{}
	}
	if _, err := formatStack("linked/row", mem, opts); err == nil {
		t.Fatal("a stack with a bad top layer formatted")
	}
	if _, err := formatStack("linked/", mem, opts); err == nil {
		t.Fatal("a stack with an empty layer formatted")
	}
}

func TestScratchOptionsLeaveOutDeviceOptions(t *testing.T) {
	params := map[string]string{"replica-device": "/dev/nvme9n1", "replica": "false"}
	got := scratchOptions("linked", strategies.Options{ChunkSize: 4096, Params: params})
	if _, ok := got.Params["replica-device"]; ok || got.Params["replica"] != "false" || got.ChunkSize != 4096 {
		t.Errorf("scratch options %+v: want replica-device left out, the rest kept", got)
	}
	if params["replica-device"] != "/dev/nvme9n1" {
		t.Error("the caller's options were changed")
	}
}

func TestTrialOrder(t *testing.T) {
	engines := []string{"raw", "cow", "row"}
	for _, tc := range []struct {
		trial int
		want  []string
	}{
		{1, []string{"raw", "cow", "row"}},
		{2, []string{"cow", "row", "raw"}},
		{3, []string{"row", "raw", "cow"}},
		{4, []string{"raw", "cow", "row"}},
	} {
		if got := TrialOrder(engines, tc.trial); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("trial %d: %v, want %v", tc.trial, got, tc.want)
		}
	}
	if TrialOrder(nil, 1) != nil {
		t.Error("no engines: want nil")
	}
	if !reflect.DeepEqual(engines, []string{"raw", "cow", "row"}) {
		t.Error("TrialOrder modified its input")
	}
}
