package workloads

// perCopyFloor is the least device space a copy of a volume may take on
// any engine: cow's smallest delta area (its delta-min default, 4 MiB).
const perCopyFloor = 4 << 20

// SpaceWanted is the device space the scenario's volumes may occupy at
// their peak on the most space-hungry engine (full and mirror copy every
// chunk; cow gives each copy a delta area of at least 4 MiB), before
// engine metadata: the live volumes at the peak times the larger of the
// volume size and 4 MiB. A sweep wants what its largest point wants. 0
// means the scenario wants no particular size: exhaust fills whatever
// device it gets, so a larger device only makes it run longer.
//
// It is an estimate for sizing a temporary device (see runner.Config), not
// a guarantee: a snapshot tree whose branches outlive their parents can
// hold more.
func (sc Scenario) SpaceWanted() int64 {
	if _, ok := sc.Params.(expander); ok {
		pts, err := sc.Points()
		if err != nil {
			return 0
		}
		var w int64
		for _, p := range pts {
			w = max(w, p.Scenario.SpaceWanted())
		}
		return w
	}
	var vols int64
	switch p := sc.Params.(type) {
	case *OverwriteParams:
		vols = 1 + int64(lastInt(p.Fanout))
	case *ClonebushParams:
		vols = 2 + int64(p.Clones) // template, its replica (linked), clones
	case *SnaptreeParams:
		vols = 2 + 2*int64(p.Retain) // base, retained snapshots and their branches, a restore clone
	case *ChainreadParams:
		vols = 2 + int64(lastInt(p.Depths))
	case *ExhaustParams:
		return 0
	case *ScaleParams:
		// thin volumes: the template's fill, and one copy of it per clone
		// on an engine that copies (full)
		return (2 + int64(p.Clones)) * max(p.Fill, 64<<10)
	default:
		vols = 1
	}
	return vols * max(sc.VolumeSize, perCopyFloor)
}

func lastInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// DeviceNeeded is the least device size a point of the scenario can run
// on at all (runner refuses a smaller device before formatting): two
// volumes of volume_size, except for "scale", whose volumes are thin (its
// point is to find which engines can hold a large thin volume: those that
// provision it fully fail with no space, reported as such).
func (sc Scenario) DeviceNeeded() int64 {
	if p, ok := sc.Params.(*ScaleParams); ok {
		return 2 * max(p.Fill, perCopyFloor)
	}
	return 2 * sc.VolumeSize
}
