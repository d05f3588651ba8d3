// Package strategies defines what a snapshot/clone engine is: the Engine and
// Volume contracts, capabilities, space accounting, options, sentinel errors,
// the registry of engines by name, and the on-device superblock that lets
// Open find which engine formatted a device.
//
// Each engine lives in its own sub-package and registers itself in init();
// programs import the engines they want for their side effect. The shared
// conformance and crash suite is in strategies/strategytest.
//
// What it is not: a volume manager with policies of its own. The engines do
// exactly what their mechanism does, so the costs of the mechanism show.
package strategies
