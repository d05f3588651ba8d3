package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/snapbench/snapbench/device"
)

func init() {
	registerVerb(verb{name: "devices", summary: "list block devices and whether snapbench may write to them", run: runDevices})
}

const devicesHelp = `
List every whole block device the kernel shows in /sys/block (attached loop
devices included): name, size, model, type (ssd or hdd, as the kernel reports
rotation), logical/physical sector size, the backing file of a loop device,
and the verdict of snapbench's safety rules.

The verdict is "ok", or "refused:" with the reasons: the device or one of its
partitions is mounted or used as swap, another driver holds it (device-mapper,
md, ...), it has partitions, or it carries a file system, partition table,
LVM, RAID, LUKS or swap signature. snapbench does not write to a refused
device unless forced. Listing only reads; run it as root to see signatures.`

func runDevices(args []string) int {
	fs := newFlags("devices", "devices [--json]", devicesHelp)
	asJSON := fs.Bool("json", false, "print a JSON array of devices instead of a table")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError("devices", "unexpected argument %q", fs.Arg(0))
	}
	devs, err := device.List()
	if err != nil {
		return fail(err)
	}
	if devs == nil {
		devs = []device.BlockDevice{} // JSON [], not null
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(devs)
	} else {
		err = writeDeviceTable(stdout, devs)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// writeDeviceTable writes devs as a table with aligned columns.
func writeDeviceTable(w io.Writer, devs []device.BlockDevice) error {
	rows := make([][]string, 0, len(devs))
	for _, d := range devs {
		kind := "ssd"
		if d.Rotational {
			kind = "hdd"
		}
		status := "ok"
		if len(d.Refused) > 0 {
			status = "refused: " + oneLine(strings.Join(d.Refused, "; "))
		}
		rows = append(rows, []string{d.Name, humanBytes(d.Size), orDash(d.Model), kind,
			fmt.Sprintf("%d/%d", d.LogicalSector, d.PhysicalSector), orDash(d.Backing), status})
	}
	return writeAlignedTable(w, []string{"NAME", "SIZE", "MODEL", "TYPE", "SECTOR", "BACKING", "STATUS"}, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n in binary units: "512 B", "64 MiB", "1.5 TiB".
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + units[i]
}
