package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/workloads"
)

// ErrConfig marks configuration errors: bad input caught before any device
// write. The CLI exits 2 on them.
var ErrConfig = errors.New("invalid configuration")

// DefaultSize is the least size of the temporary device file when no
// device is given; a suite whose volumes want more (Scenario.SpaceWanted)
// gets a file sized for them, with a quarter more for engine metadata,
// rounded up to a GiB. The file is sparse: only what the engines write
// takes disk space.
const DefaultSize = 1 << 30

// DefaultRepeat is the number of trials `snapbench run` makes of every
// point when neither --repeat nor the spec says: the fewest that give a
// median and a spread.
const DefaultRepeat = 3

// Config is one benchmark: engines × runs on one device.
type Config struct {
	// DevicePath: a block device or a file; "" creates a sparse temporary
	// file in TempDir, removed at the end unless Keep.
	DevicePath string
	TempDir    string
	Size       int64 // size of a new file device (default DefaultSize)
	Keep       bool
	Force      bool              // override the device safety rules
	Direct     device.DirectMode // O_DIRECT policy
	// IOEngine is how a file or block device does IO ("" is auto): see
	// device.File.SetIOEngine. Result files record the engine used.
	IOEngine device.IOEngine
	Engines  []string // registered engine names, in run order
	// EngineParams holds per-engine options (engine -> key -> value).
	EngineParams map[string]map[string]string
	ChunkSize    int                  // 0: the engines' default
	Runs         []workloads.Scenario // resolved scenarios (sweeps allowed)
	Out          string               // result directory
	// Repeat is the number of trials of every (engine, scenario point),
	// engines interleaved in rotating order within each trial (TrialOrder);
	// 0 or 1 runs each once.
	Repeat int
	// Precondition fills the device sequentially, then overwrites it at
	// random once, before the first engine: SSDs then show steady state.
	Precondition bool
	// Discard discards the whole device before each engine where the device
	// supports it, so an SSD starts each engine from the same state.
	Discard bool
	// Version and Commit are recorded in every result file.
	Version, Commit string
	// Command is the command line that asked for the runs (program name
	// first), recorded in every result file; nil records none.
	Command []string
	// RunID names this invocation in every result file it writes, so that
	// readers tell run sets apart ("" : Run makes one from the start time
	// and the process id).
	RunID string

	suite *suiteProgress // set by Run: which run of how many
	// Log receives progress and summary lines; nil is silent.
	Log io.Writer
	// Live, when true, rewrites one progress line in place (a terminal);
	// otherwise a plain line is printed every few seconds.
	Live bool
}

// minOverhead is what every engine needs beyond its volumes: the snapbench
// superblock area and room for metadata.
const minOverhead = 2*strategies.ReservedBytes + 32<<20

// Validate checks everything that can be checked without writing: engine
// and option names, scenarios, the output directory (created and probed),
// the device (exists or can be created, passes the safety rules, is large
// enough). It returns an error wrapping ErrConfig, or device.ErrRefused for
// a refused device.
func (c *Config) Validate() error {
	if len(c.Engines) == 0 {
		return fmt.Errorf("%w: no engines", ErrConfig)
	}
	known := strategies.Names()
	var layers []string
	for _, e := range c.Engines {
		for _, l := range Layers(e) {
			if !slices.Contains(known, l) {
				return fmt.Errorf("%w: unknown engine %q (known: %s; stack them as upper/lower, e.g. linked/row)",
					ErrConfig, l, strings.Join(known, ", "))
			}
			layers = append(layers, l)
		}
	}
	for e := range c.EngineParams {
		if !slices.Contains(layers, e) {
			return fmt.Errorf("%w: options given for engine %q, which is not being run", ErrConfig, e)
		}
	}
	// Options are validated by formatting each engine on a scratch memory
	// device: nothing touches the real device.
	for _, e := range c.Engines {
		scratch := device.MustMem(64 << 20)
		st, err := formatStack(e, scratch, func(l string) strategies.Options { return scratchOptions(l, c.options(l, 0)) })
		if errors.Is(err, device.ErrNotDevice) {
			continue // a real-system peer: its options are resolved, it needs the real device
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		st.close()
	}
	if len(c.Runs) == 0 {
		return fmt.Errorf("%w: no scenarios", ErrConfig)
	}
	need, want := int64(0), int64(DefaultSize)
	for _, sc := range c.Runs {
		want = max(want, (sc.SpaceWanted()*5/4+minOverhead+DefaultSize-1)/DefaultSize*DefaultSize)
		if err := sc.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		pts, err := sc.Points()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		for _, p := range pts {
			need = max(need, p.Scenario.DeviceNeeded()+minOverhead)
		}
	}
	if err := c.checkOut(); err != nil {
		return err
	}
	return c.checkDevice(need, want)
}

func (c *Config) options(engine string, chunk int) strategies.Options {
	if chunk == 0 {
		chunk = c.ChunkSize
	}
	return strategies.Options{ChunkSize: chunk, Params: c.EngineParams[engine]}
}

// scratchOptions are engine's opts without the options that name other
// devices (strategies.Param.Device, e.g. linked's replica-device):
// validating on a scratch memory device must not open, let alone write, a
// real device. Those are checked when the run formats the engine.
func scratchOptions(engine string, opts strategies.Options) strategies.Options {
	f, err := strategies.LookupFactory(engine)
	if err != nil {
		return opts // Format reports the unknown engine
	}
	params := map[string]string{}
	for k, v := range opts.Params {
		params[k] = v
	}
	for _, p := range f.Params {
		if p.Device {
			delete(params, p.Name)
		}
	}
	opts.Params = params
	return opts
}

// checkOut creates the output directory and proves it writable.
func (c *Config) checkOut() error {
	if c.Out == "" {
		return fmt.Errorf("%w: no output directory", ErrConfig)
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("%w: output directory: %v", ErrConfig, err)
	}
	probe, err := os.CreateTemp(c.Out, ".probe-*")
	if err != nil {
		return fmt.Errorf("%w: output directory %s is not writable: %v", ErrConfig, c.Out, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// checkDevice applies the safety rules and the size check without writing.
// A new file device without a size gets want bytes.
func (c *Config) checkDevice(need, want int64) error {
	if c.DevicePath == "" {
		if c.Size == 0 {
			c.Size = want
		}
		if c.Size < need {
			return fmt.Errorf("%w: --size %s is too small for these scenarios: need at least %s",
				ErrConfig, workloads.FormatSize(c.Size), workloads.FormatSize(need))
		}
		return nil
	}
	st, err := os.Stat(c.DevicePath)
	if errors.Is(err, os.ErrNotExist) {
		if c.Size == 0 {
			c.Size = want
		}
		if dir := filepath.Dir(c.DevicePath); dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("%w: device %s: directory %s does not exist", ErrConfig, c.DevicePath, dir)
			}
		}
		if c.Size < need {
			return fmt.Errorf("%w: --size %s is too small for these scenarios: need at least %s",
				ErrConfig, workloads.FormatSize(c.Size), workloads.FormatSize(need))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: device %s: %v", ErrConfig, c.DevicePath, err)
	}
	if !c.Force {
		reasons, err := device.Probe(c.DevicePath)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		if len(reasons) > 0 {
			return fmt.Errorf("%w: %s: %s (use --force to overwrite it anyway)", device.ErrRefused, c.DevicePath, strings.Join(reasons, "; "))
		}
	}
	size := st.Size()
	if st.Mode()&os.ModeDevice != 0 {
		d, err := device.Open(c.DevicePath, device.Options{ReadOnly: true, Force: true, Direct: device.DirectOff})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		size = d.Size()
		d.Close()
	} else {
		size = max(size, c.Size)
	}
	if size < need {
		return fmt.Errorf("%w: device %s has %s, these scenarios need at least %s",
			ErrConfig, c.DevicePath, workloads.FormatSize(size), workloads.FormatSize(need))
	}
	return nil
}

// setIOEngine applies c.IOEngine to dev when dev is a File, and returns the
// engine in use ("" for other devices) and a function that undoes what the
// choice changed in the process. psync gets GOMAXPROCS raised to the
// deepest queue of the runs plus the cores (device.PsyncProcs) while the
// benchmark lasts, so that workers blocked in pread/pwrite do not wait for
// a thread; uring, whose waiters hold no thread, gets at least two Ps (one
// for its ring thread: device.ProcsFor).
func (c *Config) setIOEngine(dev device.Device) (device.IOEngine, func(), error) {
	f, ok := dev.(*device.File)
	if !ok {
		return "", func() {}, nil
	}
	want := c.IOEngine
	if want == "" {
		want = device.IOEngineAuto
	}
	used, err := f.SetIOEngine(want)
	if err != nil {
		return used, func() {}, fmt.Errorf("%w: --io-engine %s: %v", ErrConfig, want, err)
	}
	qd := 1
	for _, sc := range c.Runs {
		if pts, err := sc.Points(); err == nil {
			for _, p := range pts {
				qd = max(qd, p.Scenario.QD)
			}
		}
	}
	return used, device.ProcsFor(used, qd), nil
}
