package runner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// Stacked engines: "linked/row" runs linked on one volume of a row engine,
// as a VMDK's redo logs sit on VMFS on a thin array LUN. Any depth works:
// "a/b/c" is a on a volume of b on a volume of c. Each layer beneath the top
// gets one base volume spanning (nearly) its free space, and the layer above
// is formatted on it; so the counting device under the bottom layer sees the
// IO of every layer, and amplification multiplies as it does in real
// stacks. Space, volumes and copies are the top layer's; the layers beneath
// only carry it.

// Layers splits an engine name into its layers, top first.
func Layers(engine string) []string { return strings.Split(engine, "/") }

// stackFill is the share of a lower layer's free space its one volume
// takes; the rest is room for the layer's own metadata as it fills (a thin
// engine allocates its mapping as the upper layer writes).
const stackFill = 0.9

// stack is a formatted engine and, for a stacked one, the layers beneath
// it. The lower layers are kept bottom up: lower[0] is on the device,
// vols[j] is the volume of lower[j] that the layer above lives on (when
// formatting failed half way, vols may be one short).
type stack struct {
	top   strategies.Engine
	lower []strategies.Engine
	vols  []strategies.Volume
	devs  []device.Device // the device of each layer, bottom up, the top's last
	names []string        // layer names, top first
}

// formatStack formats the layers of engine bottom up on dev. opts gives
// the options of a layer. On error whatever was formatted is closed.
func formatStack(engine string, dev device.Device, opts func(layer string) strategies.Options) (*stack, error) {
	names := Layers(engine)
	for _, n := range names {
		if n == "" {
			return nil, fmt.Errorf("engine %q: an empty layer", engine)
		}
	}
	s := &stack{names: names}
	cur := dev
	for i := len(names) - 1; i >= 1; i-- {
		eng, err := strategies.Format(names[i], cur, opts(names[i]))
		if err != nil {
			s.close()
			return nil, fmt.Errorf("format layer %s of %s: %w", names[i], engine, err)
		}
		s.lower, s.devs = append(s.lower, eng), append(s.devs, cur)
		chunk := int64(opts(names[i]).ChunkSize)
		if sb, err := strategies.ReadSuperblock(cur); err == nil {
			chunk = int64(sb.Options.ChunkSize)
		}
		size := int64(float64(eng.Space().Free)*stackFill) / chunk * chunk
		id, err := eng.Create("stack-"+names[i-1], size)
		if err == nil {
			var vol strategies.Volume
			if vol, err = eng.Open(id); err == nil {
				s.vols = append(s.vols, vol)
				cur = vol
			}
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("layer %s of %s: a volume for %s: %w", names[i], engine, names[i-1], err)
		}
	}
	top, err := strategies.Format(names[0], cur, opts(names[0]))
	if err != nil {
		s.close()
		if len(names) > 1 {
			return nil, fmt.Errorf("format layer %s of %s: %w", names[0], engine, err)
		}
		return nil, err
	}
	s.top, s.devs = top, append(s.devs, cur)
	return s, nil
}

// options is the resolved option string of every layer, top first,
// separated by " / ".
func (s *stack) options() string {
	parts := make([]string, 0, len(s.devs))
	for i := len(s.devs) - 1; i >= 0; i-- {
		sb, err := strategies.ReadSuperblock(s.devs[i])
		if err != nil {
			parts = append(parts, "?")
			continue
		}
		parts = append(parts, sb.Options.String())
	}
	return strings.Join(parts, " / ")
}

// flush makes everything durable: the top engine's Flush flushes the
// device it lives on, which for a stacked engine is a volume of the layer
// beneath, whose Flush commits that engine, and so on down.
func (s *stack) flush() error { return s.top.Flush() }

// check runs every layer's consistency check.
func (s *stack) check() error {
	var errs []error
	if err := s.top.Check(); err != nil {
		errs = append(errs, err)
	}
	for j := len(s.lower) - 1; j >= 0; j-- {
		if err := s.lower[j].Check(); err != nil {
			errs = append(errs, fmt.Errorf("layer %s: %w", s.names[len(s.names)-1-j], err))
		}
	}
	return errors.Join(errs...)
}

// close closes every layer, top down, without flushing.
func (s *stack) close() error {
	var errs []error
	if s.top != nil {
		errs = append(errs, s.top.Close())
	}
	for j := len(s.lower) - 1; j >= 0; j-- {
		if j < len(s.vols) {
			errs = append(errs, s.vols[j].Close())
		}
		errs = append(errs, s.lower[j].Close())
	}
	return errors.Join(errs...)
}
