package linked_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/linked"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestScale is the clone-bush scale measurement (strategytest.ScaleCloneBush):
//
//	SNAPBENCH_SCALE=100000 go test -run 'TestScale$' -v -timeout 0 ./strategies/linked/
func TestScale(t *testing.T) {
	strategytest.ScaleCloneBush(t, strategytest.ScaleConfig{Engine: "linked", BaseSize: 1 << 30, DeviceSize: func(int) int64 { return 64 << 30 }})
}

// TestScaleSize measures create, snapshot and clone of an empty (thin)
// volume of 1 GiB and of 1 TiB: time and device bytes written each, then
// reopen + list and Check with those volumes. SNAPBENCH_SCALE=1 only.
func TestScaleSize(t *testing.T) {
	if os.Getenv("SNAPBENCH_SCALE") != "1" {
		t.Skip("set SNAPBENCH_SCALE=1 to run the scale measurement")
	}
	for _, size := range []int64{1 << 30, 1 << 40} {
		t.Run(fmt.Sprintf("size=%dGiB", size>>30), func(t *testing.T) {
			dev, reopen := strategytest.ScaleDevice(t, 64<<30)
			eng, err := strategies.Format("linked", dev, strategies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var id strategies.VolumeID
			for _, op := range []string{"create", "snapshot", "clone"} {
				b0 := dev.Counters().WriteBytes
				start := time.Now()
				switch op {
				case "create":
					id, err = eng.Create("v", size)
				case "snapshot":
					_, err = eng.Snapshot(id, "s")
				case "clone":
					_, err = eng.Clone(id, "c")
				}
				if err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				t.Logf("%-8s %v, %d B written", op, time.Since(start), dev.Counters().WriteBytes-b0)
			}
			start := time.Now()
			if err := eng.(interface{ Check() error }).Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			t.Logf("check    %v", time.Since(start))
			eng.Close()
			dev.Close()
			f := reopen()
			defer f.Close()
			start = time.Now()
			e2, err := strategies.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			n := len(e2.Volumes())
			t.Logf("reopen + list of %d volumes %v", n, time.Since(start))
			e2.Close()
		})
	}
}
