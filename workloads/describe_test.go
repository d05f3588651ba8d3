package workloads

import (
	"reflect"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// TestResultTypesMirrorLayers: the result file's DeviceInfo, DeviceCounters
// and Space have exactly the fields, kinds and JSON names of device.Info,
// device.Counters and strategies.Space, so files keep their shape; and
// resultDeviceInfo copies every field.
func TestResultTypesMirrorLayers(t *testing.T) {
	for _, tc := range []struct{ layer, result any }{
		{device.Info{}, results.DeviceInfo{}},
		{device.Counters{}, results.DeviceCounters{}},
		{strategies.Space{}, results.Space{}},
	} {
		lt, rt := reflect.TypeOf(tc.layer), reflect.TypeOf(tc.result)
		if lt.NumField() != rt.NumField() {
			t.Errorf("%v has %d fields, %v %d", lt, lt.NumField(), rt, rt.NumField())
			continue
		}
		for i := range lt.NumField() {
			lf, rf := lt.Field(i), rt.Field(i)
			if lf.Name != rf.Name || lf.Type.Kind() != rf.Type.Kind() || lf.Tag.Get("json") != rf.Tag.Get("json") {
				t.Errorf("%v.%s (%v, json %q) against %v.%s (%v, json %q)", lt, lf.Name, lf.Type.Kind(), lf.Tag.Get("json"),
					rt, rf.Name, rf.Type.Kind(), rf.Tag.Get("json"))
			}
		}
	}
	// Every field set to a distinct non-zero value comes through.
	in := device.Info{Path: "p", Kind: device.KindBlock, Size: 1, LogicalSector: 2, PhysicalSector: 3, MemAlign: 4,
		Rotational: true, Model: "m", DirectIO: true, Discard: true, Backing: "b", IOEngine: "uring",
		IOSetup: "coop_taskrun"}
	out := resultDeviceInfo(in)
	iv, ov := reflect.ValueOf(in), reflect.ValueOf(out)
	for i := range iv.NumField() {
		if iv.Field(i).IsZero() {
			t.Fatalf("test input leaves %s zero", iv.Type().Field(i).Name)
		}
		if a, b := iv.Field(i).Interface(), ov.Field(i).Interface(); reflect.ValueOf(a).Convert(reflect.TypeOf(b)).Interface() != b {
			t.Errorf("%s: %v became %v", iv.Type().Field(i).Name, a, b)
		}
	}
}
