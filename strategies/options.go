package strategies

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Chunk size limits. The chunk (grain) is the unit of sharing and copying.
const (
	MinChunkSize     = 4 << 10
	MaxChunkSize     = 1 << 20
	DefaultChunkSize = 64 << 10
)

// Param declares one engine-specific option.
type Param struct {
	Name    string
	Default string
	Help    string
	// Device marks an option whose value names another device (a path)
	// that Format and Open open themselves. Tools that try options out on
	// a scratch device leave such options out, so that trying never opens,
	// let alone writes, a real device.
	Device bool
}

// Options configures an engine at Format. They are stored in the superblock
// and handed back unchanged at Open.
type Options struct {
	// ChunkSize in bytes: a power of two from 4 KiB to 1 MiB; 0 means 64 KiB.
	ChunkSize int
	// Params are engine-specific options by name (see Factory.Params).
	// Unknown names are rejected; missing ones take their defaults.
	Params map[string]string
}

// resolve validates o against an engine's declared params and fills defaults.
func (o Options) resolve(f Factory) (Options, error) {
	out := Options{ChunkSize: o.ChunkSize, Params: make(map[string]string, len(f.Params))}
	if out.ChunkSize == 0 {
		out.ChunkSize = DefaultChunkSize
	}
	c := out.ChunkSize
	if c < MinChunkSize || c > MaxChunkSize || c&(c-1) != 0 {
		return Options{}, fmt.Errorf("%s: chunk size %d: %w: must be a power of two from 4 KiB to 1 MiB", f.Name, c, ErrInvalidArgument)
	}
	known := make(map[string]bool, len(f.Params))
	for _, p := range f.Params {
		known[p.Name] = true
		out.Params[p.Name] = p.Default
	}
	for k, v := range o.Params {
		if !known[k] {
			return Options{}, fmt.Errorf("%s: unknown option %q: %w (known: %s)", f.Name, k, ErrInvalidArgument, strings.Join(paramNames(f), ", "))
		}
		if strings.ContainsAny(k+v, "=\n") {
			return Options{}, fmt.Errorf("%s: option %q=%q: %w: no '=' or newline", f.Name, k, v, ErrInvalidArgument)
		}
		out.Params[k] = v
	}
	return out, nil
}

func paramNames(f Factory) []string {
	names := make([]string, 0, len(f.Params))
	for _, p := range f.Params {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// String renders the options as "chunk=65536 k=v ..." in a stable order.
func (o Options) String() string {
	keys := make([]string, 0, len(o.Params))
	for k := range o.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "chunk=%d", o.ChunkSize)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, o.Params[k])
	}
	return b.String()
}

// Int returns the integer param name; engines call it on resolved options.
func (o Options) Int(engine, name string) (int64, error) {
	v, err := strconv.ParseInt(o.Params[name], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: option %s=%q: %w: not an integer", engine, name, o.Params[name], ErrInvalidArgument)
	}
	return v, nil
}

// Float returns the floating-point param name.
func (o Options) Float(engine, name string) (float64, error) {
	v, err := strconv.ParseFloat(o.Params[name], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: option %s=%q: %w: not a number", engine, name, o.Params[name], ErrInvalidArgument)
	}
	return v, nil
}

// Bool returns the boolean param name.
func (o Options) Bool(engine, name string) (bool, error) {
	v, err := strconv.ParseBool(o.Params[name])
	if err != nil {
		return false, fmt.Errorf("%s: option %s=%q: %w: not a boolean", engine, name, o.Params[name], ErrInvalidArgument)
	}
	return v, nil
}

// ParseParams parses "k=v,k=v" (as given on a command line).
func ParseParams(s string) (map[string]string, error) {
	out := make(map[string]string)
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("option %q: %w: want key=value", kv, ErrInvalidArgument)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}
