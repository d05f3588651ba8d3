package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/runner"
	"github.com/snapbench/snapbench/strategies"
)

func init() {
	registerVerb(verb{name: "format", summary: "lay an engine (raw, full, ...) on a device or file, destroying its content", run: runFormat})
}

const formatHelp = `
Lay a snapshot/clone engine on a block device or a regular file, which then
holds no volumes: create them with snapbench volume create. Everything the
device held is lost.

The device is opened with direct IO and the safety rules of snapbench devices:
a block device that is mounted, held, partitioned or carries a file system or
other signature is refused, as is a file carrying a signature, unless --force.
A device that already holds a snapbench engine is refused too unless --force
(its volumes would be lost). --size creates a missing file, sparse, or extends
a short one.

Sizes take binary suffixes: 4K, 64M, 1G (or KiB, MiB, GiB).

Example:
  snapbench format --device /var/tmp/sb.img --size 4G --engine full --chunk 64K`

// engineList describes the registered engines and their options.
func engineList() string {
	var b strings.Builder
	b.WriteString("\n\nengines:")
	for _, name := range strategies.Names() {
		f, _ := strategies.LookupFactory(name)
		fmt.Fprintf(&b, "\n  %-8s %s", name, f.Doc)
		for _, p := range f.Params {
			fmt.Fprintf(&b, "\n  %8s --opt %s=%s (default): %s", "", p.Name, p.Default, p.Help)
		}
	}
	return b.String()
}

func runFormat(args []string) int {
	fs := newFlags("format", "format --device PATH --engine NAME [--chunk SIZE] [--opt k=v,...] [--size SIZE] [--force]",
		formatHelp+engineList())
	path := fs.String("device", "", "block device or file to format (required)")
	engine := fs.String("engine", "", "engine to lay: "+strings.Join(strategies.Names(), ", ")+" (required)")
	chunkFlag := fs.String("chunk", "", "chunk (grain) size: a power of two from 4K to 1M (default 64K)")
	opt := fs.String("opt", "", "engine options as key=value,key=value (see the engines above)")
	sizeFlag := fs.String("size", "", "create the file if missing, or extend it, to this size (regular files)")
	force := fs.Bool("force", false, "format even a device that holds an engine or another signature")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError("format", "unexpected argument %q", fs.Arg(0))
	case *path == "":
		return usageError("format", "--device is required")
	case *engine == "":
		return usageError("format", "--engine is required (one of %s)", strings.Join(strategies.Names(), ", "))
	}
	if _, err := strategies.LookupFactory(*engine); err != nil {
		return usageError("format", "unknown engine %q (one of %s)", *engine, strings.Join(strategies.Names(), ", "))
	}
	opts := strategies.Options{}
	if *chunkFlag != "" {
		c, err := parseSize(*chunkFlag)
		if err != nil || c < strategies.MinChunkSize || c > strategies.MaxChunkSize || c&(c-1) != 0 {
			return usageError("format", "--chunk %q: a power of two from 4K to 1M", *chunkFlag)
		}
		opts.ChunkSize = int(c)
	}
	params, err := strategies.ParseParams(*opt)
	if err != nil {
		return usageError("format", "--opt: %v", err)
	}
	opts.Params = params
	var size int64
	if *sizeFlag != "" {
		if size, err = parseSize(*sizeFlag); err != nil || size <= 0 {
			return usageError("format", "--size: %s", orValue(err, "must be positive"))
		}
	}

	_, statErr := os.Stat(*path)
	created := os.IsNotExist(statErr)
	if created && size == 0 {
		return usageError("format", "%s does not exist; give --size to create it", *path)
	}
	dev, unlock, err := openDevice(*path, device.Options{Size: size, Force: *force})
	if err != nil {
		return fail(err)
	}
	defer unlock()
	defer dev.Close()
	if !*force {
		if err := runner.RefuseFormatted(dev, *path); err != nil {
			return fail(err)
		}
	}
	eng, err := strategies.Format(*engine, dev, opts)
	if err != nil {
		if created {
			os.Remove(*path) // do not leave a file of ours behind
		}
		return fail(fmt.Errorf("format %s: %w", *path, err))
	}
	defer eng.Close()
	sb, err := strategies.ReadSuperblock(dev)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "formatted %s (%s) with engine %s, %s\n", *path, humanBytes(dev.Size()), *engine, sb.Options)
	fmt.Fprintln(stdout, spaceLine(eng.Space()))
	return 0
}

func orValue(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// spaceLine renders an engine's space accounting in one line.
func spaceLine(s strategies.Space) string {
	line := fmt.Sprintf("space: capacity %s, data %s, metadata %s, free %s",
		humanBytes(s.Capacity), humanBytes(s.Data), humanBytes(s.Metadata), humanBytes(s.Free))
	if s.Invalidated > 0 || s.Expired > 0 {
		line += fmt.Sprintf(", %d invalidated, %d expired", s.Invalidated, s.Expired)
	}
	return line
}
