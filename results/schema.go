package results

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion is the version of the JSON result file this build writes.
// Readers refuse files of a newer schema with a clear error.
const SchemaVersion = 1

// Status of a run.
const (
	StatusOK          = "ok"
	StatusUnsupported = "unsupported" // the engine's caps exclude the scenario
	StatusIncomplete  = "incomplete"  // interrupted (Ctrl-C); what was measured is kept
	StatusFailed      = "failed"      // an error, including a verification mismatch
)

// Run is one result file: one engine, one scenario, one run.
type Run struct {
	Schema        int               `json:"schema"`
	Engine        string            `json:"engine"`
	EngineOptions string            `json:"engine_options"`
	Scenario      string            `json:"scenario"`
	Params        map[string]string `json:"params"` // the full scenario config, as strings
	Seed          uint64            `json:"seed"`
	Started       time.Time         `json:"started"`
	Seconds       float64           `json:"seconds"`
	Env           Env               `json:"env"`
	Device        DeviceInfo        `json:"device"`
	// RunID names the invocation (one snapbench run) that wrote the file:
	// every result file of one run set carries the same. Empty in files
	// written before it was recorded.
	RunID string `json:"run_id,omitempty"`
	// Command is the full command line of that invocation, program name
	// first (absent in files written before it was recorded).
	Command []string `json:"command,omitempty"`
	// Trial is this run's trial (1..Trials) when the point was run
	// Trials > 1 times (--repeat); both are 0 in a single-trial file, as
	// in files written before trials existed.
	Trial  int     `json:"trial,omitempty"`
	Trials int     `json:"trials,omitempty"`
	Status string  `json:"status"`
	Reason string  `json:"reason,omitempty"` // why unsupported, incomplete or failed
	Phases []Phase `json:"phases"`
	// Config is the full structured scenario configuration when the
	// workload has one (Params carries it flattened as strings).
	Config json.RawMessage `json:"config,omitempty"`
	// Warnings are problems that did not stop the run or the write (for
	// example a metric that was not a finite number and was dropped).
	Warnings []string `json:"warnings,omitempty"`
}

// Env is the environment a run was measured in.
type Env struct {
	Version   string `json:"snapbench_version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemBytes  int64  `json:"mem_bytes"`
	Hostname  string `json:"hostname,omitempty"`
}

// Phase is one named phase of a scenario and everything measured in it.
type Phase struct {
	Name    string         `json:"name"`
	Started time.Time      `json:"started,omitzero"` // wall clock at BeginPhase
	Seconds float64        `json:"seconds"`
	Ops     map[Op]OpStats `json:"ops"`
	Device  DeviceCounters `json:"device"` // device operations during the phase
	// DeviceSource says where Device comes from: "" for snapbench's
	// counting device under the engine; "kernel" for the block device a
	// real-system peer's kernel file system wrote (its /sys/block stat, as
	// the engine's fs_* Stats report it), which snapbench's counters
	// cannot see; "cluster" for the OSDs of a Ceph cluster under the rbd
	// peer (their perf counters, summed over every OSD).
	DeviceSource string             `json:"device_source,omitempty"`
	Logical      LogicalIO          `json:"logical"`
	Space        SpaceChange        `json:"space"`
	CPU          CPU                `json:"cpu"`
	Metrics      map[string]float64 `json:"metrics,omitempty"` // scenario-specific values, named with their unit: "burst_s", "clones"
	Series       []Series           `json:"series,omitempty"`
	// Intervals is latency over time: each op's histogram per interval of
	// the scenario's hlog_interval (absent when it is 0, and in files
	// written before intervals were recorded).
	Intervals []Interval `json:"intervals,omitempty"`
	// Unsupported is set when the phase could not run on this engine
	// (the reason); its measurements are then empty.
	Unsupported string `json:"unsupported,omitempty"`
}

// LogicalIO is what the workload asked of the volumes.
type LogicalIO struct {
	ReadBytes  int64 `json:"read_bytes"`
	WriteBytes int64 `json:"write_bytes"`
	Reads      int64 `json:"reads"`
	Writes     int64 `json:"writes"`
}

// DeviceCounted reports whether the phase's device counters saw its IO: an
// engine that drives a kernel file system or another program (a real-system
// peer) does its device IO where snapbench's Counting device cannot see it,
// so a phase with logical IO and not one counted device IO has no
// amplification to show.
func (p Phase) DeviceCounted() bool {
	return p.Device.Reads+p.Device.Writes > 0 || p.Logical.Reads+p.Logical.Writes == 0
}

// WriteAmp is device bytes written per logical byte written (0 if none).
func (p Phase) WriteAmp() float64 {
	if p.Logical.WriteBytes == 0 {
		return 0
	}
	return float64(p.Device.WriteBytes) / float64(p.Logical.WriteBytes)
}

// ReadAmp is device bytes read per logical byte read (0 if none).
func (p Phase) ReadAmp() float64 {
	if p.Logical.ReadBytes == 0 {
		return 0
	}
	return float64(p.Device.ReadBytes) / float64(p.Logical.ReadBytes)
}

// DeviceInfo describes the device a run used, as the device layer
// describes itself (the same fields and JSON as device.Info; results reads
// and writes files and does not depend on the layers that produce them).
type DeviceInfo struct {
	Path           string `json:"path,omitempty"`
	Kind           string `json:"kind"` // "file", "block", "memory", ...
	Size           int64  `json:"size"`
	LogicalSector  int    `json:"logical_sector"`
	PhysicalSector int    `json:"physical_sector"`
	MemAlign       int    `json:"mem_align"`
	Rotational     bool   `json:"rotational"`
	Model          string `json:"model,omitempty"`
	DirectIO       bool   `json:"direct_io"`
	Discard        bool   `json:"discard"`
	Backing        string `json:"backing,omitempty"`   // loop devices: the backing file
	IOEngine       string `json:"io_engine,omitempty"` // how the device did IO: uring or psync
	IOSetup        string `json:"io_setup,omitempty"`  // uring: the io_uring setup flags the kernel accepted (device.Info.IOSetup)
}

// DeviceCounters are the device operations of a phase (the same fields
// and JSON as device.Counters).
type DeviceCounters struct {
	Reads        int64 `json:"reads"`
	Writes       int64 `json:"writes"`
	ReadBytes    int64 `json:"read_bytes"`
	WriteBytes   int64 `json:"write_bytes"`
	Flushes      int64 `json:"flushes"`
	Discards     int64 `json:"discards"`
	DiscardBytes int64 `json:"discard_bytes"`
	Zeroes       int64 `json:"zeroes,omitempty"`     // fast zeroing calls, not writes
	ZeroBytes    int64 `json:"zero_bytes,omitempty"` // bytes made zero by them
	Errors       int64 `json:"errors"`
}

// Space is an engine's space accounting at one moment (the same fields and
// JSON as strategies.Space).
type Space struct {
	Capacity    int64 `json:"capacity"` // bytes of the device the engine manages
	Data        int64 `json:"data"`     // allocated or reserved for volume data
	Metadata    int64 `json:"metadata"` // allocated to metadata, including fixed areas
	Free        int64 `json:"free"`
	Invalidated int64 `json:"invalidated"` // volumes invalidated by the engine's policy since format
	Expired     int64 `json:"expired"`     // snapshots the engine deleted to make room
}

// SpaceChange is the engine's space before and after a phase, in total and
// per volume kind ("base", "snapshot", "clone", "internal").
type SpaceChange struct {
	Before      Space                `json:"before"`
	After       Space                `json:"after"`
	KindsBefore map[string]KindSpace `json:"kinds_before,omitempty"`
	KindsAfter  map[string]KindSpace `json:"kinds_after,omitempty"`
}

// KindSpace is the space held by the volumes of one kind.
type KindSpace struct {
	Volumes      int64 `json:"volumes"`
	PrivateBytes int64 `json:"private_bytes"` // sum of VolumeInfo.PrivateBytes
	Invalid      int64 `json:"invalid,omitempty"`
}

// CPU is the process's CPU time during a phase and its peak memory.
type CPU struct {
	UserSeconds float64 `json:"user_s"`
	SysSeconds  float64 `json:"sys_s"`
	PeakRSS     int64   `json:"peak_rss_bytes"` // of the process, since it started
	// EngineMemory is what the engine reports holding in memory at the end
	// of the phase (strategies.MemoryReporter; 0 when it does not report):
	// caches, tables, bitmaps. Bounded by design; growth with the number of
	// volumes shows in its per-volume column.
	EngineMemory int64 `json:"engine_memory_bytes,omitempty"`
}

// Series is a named time series, e.g. base write p99 against live snapshot
// count. X and Y carry their units in XUnit and YUnit.
type Series struct {
	Name   string       `json:"name"`
	XUnit  string       `json:"x_unit"`
	YUnit  string       `json:"y_unit"`
	Points [][2]float64 `json:"points"`
}

// OpStats summarises one operation kind in a phase. Latencies are in
// nanoseconds; Hist is the HDR histogram in its standard V2 compressed
// encoding (base64), readable by every HdrHistogram implementation.
type OpStats struct {
	Count  int64   `json:"count"`
	Bytes  int64   `json:"bytes"`
	Errors int64   `json:"errors"`
	Total  int64   `json:"total_ns,omitempty"` // sum of the recorded latencies
	Mean   float64 `json:"mean_ns"`
	P50    int64   `json:"p50_ns"`
	P90    int64   `json:"p90_ns"`
	P99    int64   `json:"p99_ns"`
	P999   int64   `json:"p999_ns"`
	Max    int64   `json:"max_ns"`
	Hist   string  `json:"hdr,omitempty"`
}

// Summarise turns an OpRecord into OpStats, encoding its histogram.
func Summarise(o *OpRecord) (OpStats, error) {
	s := OpStats{Count: o.Count, Bytes: o.Bytes, Errors: o.Errors, Total: int64(o.Total)}
	if o.Hist.TotalCount() > 0 {
		h := o.Hist
		s.Mean, s.Max = h.Mean(), h.Max()
		s.P50, s.P90 = h.ValueAtQuantile(50), h.ValueAtQuantile(90)
		s.P99, s.P999 = h.ValueAtQuantile(99), h.ValueAtQuantile(99.9)
		enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return OpStats{}, fmt.Errorf("results: encode histogram: %w", err)
		}
		s.Hist = string(enc)
	}
	return s, nil
}

// Histogram decodes the stored histogram (nil if none was stored).
func (s OpStats) Histogram() (*hdr.Histogram, error) {
	if s.Hist == "" {
		return nil, nil
	}
	if _, err := base64.StdEncoding.DecodeString(s.Hist); err != nil {
		return nil, fmt.Errorf("results: histogram is not base64: %w", err)
	}
	h, err := hdr.Decode([]byte(s.Hist))
	if err != nil {
		return nil, fmt.Errorf("results: decode histogram: %w", err)
	}
	return h, nil
}
