package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/snapbench/snapbench/strategies"
)

func init() {
	registerVerb(verb{name: "volume", summary: "create, snapshot, clone, delete or list the volumes on a device", run: runVolume})
}

const volumeHelp = `usage: snapbench volume create|snapshot|clone|delete|list --device PATH ...

Build a tree of volumes by hand on a device formatted with snapbench format,
then serve them (snapbench serve) or inspect them. Each change is durable when
the command returns.

  volume create   --device PATH --name NAME --size SIZE    a new, all-zero base volume
  volume snapshot --device PATH --source NAME --name NAME  a read-only point-in-time copy
  volume clone    --device PATH --source NAME --name NAME  a writable point-in-time copy
  volume delete   --device PATH --name NAME                remove a volume
  volume list     --device PATH [--json]                   the volumes and the engine's space

What an engine supports differs (raw has one volume and no copies; cow has no
snapshots of snapshots; ...): an unsupported operation fails and says so.
Names are 1 to 64 printable ASCII characters without spaces or '/'. Sizes take
binary suffixes (64M, 1G) and must be a multiple of the engine's chunk size.

Example:
  snapbench volume create --device sb.img --name base --size 1G
  snapbench volume snapshot --device sb.img --source base --name base@1
  snapbench volume clone --device sb.img --source base@1 --name vm1

snapbench volume SUBCOMMAND --help explains one subcommand.
`

func runVolume(args []string) int {
	if len(args) == 0 {
		return usageError("volume", "a subcommand is required (create, snapshot, clone, delete, list)")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, volumeHelp)
		return 0
	case "create":
		return volumeCreate(args[1:])
	case "snapshot", "clone":
		return volumeCopy(args[0], args[1:])
	case "delete":
		return volumeDelete(args[1:])
	case "list":
		return volumeList(args[1:])
	}
	return usageError("volume", "unknown subcommand %q (create, snapshot, clone, delete, list)", args[0])
}

// volumeFlags parses a subcommand's flags and requires --device and the
// named string flags; done reports that the verb must return code.
func volumeFlags(fs *pflag.FlagSet, args []string, required ...string) (code int, done bool) {
	if code, done := parseFlags(fs, args); done {
		return code, true
	}
	if fs.NArg() > 0 {
		return usageError(fs.Name(), "unexpected argument %q", fs.Arg(0)), true
	}
	for _, name := range append([]string{"device"}, required...) {
		if v, _ := fs.GetString(name); v == "" {
			return usageError(fs.Name(), "--%s is required", name), true
		}
	}
	return 0, false
}

func volumeCreate(args []string) int {
	fs := newFlags("volume create", "volume create --device PATH --name NAME --size SIZE",
		"Create an empty (all zeros) base volume of SIZE bytes (binary suffixes: 64M, 1G).")
	path := fs.String("device", "", "formatted device or file (required)")
	name := fs.String("name", "", "name of the new volume (required)")
	sizeFlag := fs.String("size", "", "size of the new volume, a multiple of the chunk size (required)")
	if code, done := volumeFlags(fs, args, "name", "size"); done {
		return code
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return usageError(fs.Name(), "--size: %v", err)
	}
	eng, _, closeAll, err := openEngine(*path, false, false)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	id, err := eng.Create(*name, size)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "created base volume %q (id %d, %s) on %s (engine %s)\n", *name, id, humanBytes(size), *path, eng.Name())
	if w := overcommitWarning(eng); w != "" {
		fmt.Fprintln(stderr, w)
	}
	return 0
}

// overcommitWarning is LVM's warning for thin pools: the sizes of a thin
// engine's volumes add up to more than the space it can hold, so writes
// will fail once it is full. "" when they fit or the engine is not thin.
func overcommitWarning(eng strategies.Engine) string {
	if !eng.Caps().Thin {
		return ""
	}
	var sum int64
	for _, v := range eng.Volumes() {
		if v.Kind != strategies.KindInternal {
			sum += v.Size
		}
	}
	sp := eng.Space()
	if room := sp.Data + sp.Free; sum > room {
		return fmt.Sprintf("snapbench: warning: the volumes of the %s engine add up to %s, more than the %s it can hold; writes fail once it is full (thin provisioning)",
			eng.Name(), humanBytes(sum), humanBytes(room))
	}
	return ""
}

// volumeCopy is volume snapshot and volume clone.
func volumeCopy(kind string, args []string) int {
	what := map[string]string{"snapshot": "a read-only", "clone": "a writable"}[kind]
	fs := newFlags("volume "+kind, "volume "+kind+" --device PATH --source NAME --name NAME",
		"Make "+what+" point-in-time copy of volume --source, called --name.")
	path := fs.String("device", "", "formatted device or file (required)")
	source := fs.String("source", "", "volume to copy (required)")
	name := fs.String("name", "", "name of the new "+kind+" (required)")
	if code, done := volumeFlags(fs, args, "source", "name"); done {
		return code
	}
	eng, _, closeAll, err := openEngine(*path, false, false)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	src, err := strategies.Lookup(eng, *source)
	if err != nil {
		return fail(err)
	}
	op := eng.Clone
	if kind == "snapshot" {
		op = eng.Snapshot
	}
	id, err := op(src, *name)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "created %s %q (id %d) of %q on %s (engine %s)\n", kind, *name, id, *source, *path, eng.Name())
	return 0
}

func volumeDelete(args []string) int {
	fs := newFlags("volume delete", "volume delete --device PATH --name NAME",
		"Delete a volume. Engines that cannot delete a volume with snapshots or clones refuse.")
	path := fs.String("device", "", "formatted device or file (required)")
	name := fs.String("name", "", "volume to delete (required)")
	if code, done := volumeFlags(fs, args, "name"); done {
		return code
	}
	eng, _, closeAll, err := openEngine(*path, false, false)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	id, err := strategies.Lookup(eng, *name)
	if err == nil {
		err = eng.Delete(id)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "deleted %q from %s (engine %s)\n", *name, *path, eng.Name())
	return 0
}
