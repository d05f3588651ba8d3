package strategies

import (
	"fmt"
	"sort"
	"sync"

	"github.com/snapbench/snapbench/device"
)

// Factory is how an engine registers itself.
type Factory struct {
	Name   string  // short lower-case name: "raw", "row", ...
	Doc    string  // one line: what the engine models
	Params []Param // engine-specific options with defaults
	// Validate reports whether Format would accept dev and the resolved
	// opts, without writing anything to dev or to any device an option
	// names: every option, the sizes and the space the layout needs, and
	// any other device the options name (opened, checked, closed). It
	// returns the error Format would return. strategies.Format calls it
	// before it erases the old superblock, so that a refused format leaves
	// the device unchanged; Format may then fail only on an IO error.
	Validate func(dev device.Device, opts Options) error
	// Format lays a new, empty engine on dev (the part of the device after
	// the snapbench superblock) with resolved options, durable on return.
	Format func(dev device.Device, opts Options) (Engine, error)
	// Open finds the engine that Format laid on dev.
	Open func(dev device.Device, opts Options) (Engine, error)
	// Peer marks a real-system peer (btrfs, XFS reflinks, qcow2): an engine
	// that drives a kernel file system or an external program on the
	// device, needs root and installed tools, and cannot live on a memory
	// device. Peers run only when named; ReferenceNames leaves them out.
	Peer bool
	// Order places the engine in tables and legends: engines with an
	// Order appear first, ascending (see Ranked); the others follow by
	// name.
	Order int
	// Baseline marks the engine whose timings others are compared with
	// (raw: the bare device). At most one engine sets it.
	Baseline bool
}

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register adds an engine. It panics on a duplicate or incomplete factory:
// both are programming errors caught at init.
func Register(f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if f.Name == "" || f.Validate == nil || f.Format == nil || f.Open == nil {
		panic("strategies: Register of an incomplete factory")
	}
	if len(f.Name) > superNameLen {
		panic("strategies: engine name too long: " + f.Name)
	}
	if _, dup := registry[f.Name]; dup {
		panic("strategies: engine registered twice: " + f.Name)
	}
	for _, o := range registry {
		if f.Baseline && o.Baseline {
			panic("strategies: two baseline engines: " + o.Name + ", " + f.Name)
		}
	}
	registry[f.Name] = f
}

// Lookup returns the factory of a registered engine.
func LookupFactory(name string) (Factory, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[name]
	if !ok {
		return Factory{}, fmt.Errorf("engine %q: %w (registered: %v)", name, ErrInvalidArgument, namesLocked())
	}
	return f, nil
}

// Names returns the registered engine names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return namesLocked()
}

// ReferenceNames returns the registered engines that are not real-system
// peers, sorted: the engines snapbench runs by default.
func ReferenceNames() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var names []string
	for _, n := range namesLocked() {
		if !registry[n].Peer {
			names = append(names, n)
		}
	}
	return names
}

// Ranked returns the engines that set an Order, in that order: how tables
// and legends list engines (results.SetEngines).
func Ranked() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var names []string
	for _, n := range namesLocked() {
		if registry[n].Order != 0 {
			names = append(names, n)
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return registry[names[i]].Order < registry[names[j]].Order })
	return names
}

// Baseline returns the engine registered as the baseline, or "".
func Baseline() string {
	regMu.RLock()
	defer regMu.RUnlock()
	for _, n := range namesLocked() {
		if registry[n].Baseline {
			return n
		}
	}
	return ""
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
