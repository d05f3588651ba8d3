package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/snapbench/snapbench/strategies"
)

// volumeListing is what volume list --json prints.
type volumeListing struct {
	Device  string           `json:"device"`
	Engine  string           `json:"engine"`
	Options string           `json:"options"`
	Volumes []listedVolume   `json:"volumes"`
	Space   strategies.Space `json:"space"`
	Caps    strategies.Caps  `json:"caps"`
}

type listedVolume struct {
	strategies.VolumeInfo
	Kind       string `json:"kind"` // overrides VolumeInfo.Kind's number
	ParentName string `json:"parent_name,omitempty"`
}

func volumeList(args []string) int {
	fs := newFlags("volume list", "volume list --device PATH [--json]", `
List the volumes of the engine on a device: id, name, kind (base, snapshot,
clone, internal), the volume it was copied from, size, the device space it
alone holds (freed if it alone were deleted), and whether it is valid (an
engine's policy may invalidate a snapshot, as classic COW does when its delta
area overflows). A last line gives the engine's space accounting.`)
	path := fs.String("device", "", "formatted device or file (required)")
	asJSON := fs.Bool("json", false, "print JSON (volumes, space, capabilities) instead of a table")
	if code, done := volumeFlags(fs, args); done {
		return code
	}
	eng, dev, closeAll, err := openEngine(*path, false, true)
	if err != nil {
		return fail(err)
	}
	defer closeAll()
	sb, err := strategies.ReadSuperblock(dev)
	if err != nil {
		return fail(err)
	}
	infos := eng.Volumes()
	names := map[strategies.VolumeID]string{}
	for _, v := range infos {
		names[v.ID] = v.Name
	}
	l := volumeListing{Device: *path, Engine: eng.Name(), Options: sb.Options.String(), Volumes: []listedVolume{},
		Space: eng.Space(), Caps: eng.Caps()}
	for _, v := range infos {
		l.Volumes = append(l.Volumes, listedVolume{VolumeInfo: v, Kind: v.Kind.String(), ParentName: names[v.Parent]})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(l)
	} else {
		err = writeVolumeTable(stdout, l)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func writeVolumeTable(w io.Writer, l volumeListing) error {
	var rows [][]string
	for _, v := range l.Volumes {
		valid := "yes"
		if !v.Valid {
			valid = "no"
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(v.ID), 10), v.Name, v.Kind, orDash(v.ParentName),
			humanBytes(v.Size), humanBytes(v.PrivateBytes), valid})
	}
	if err := writeAlignedTable(w, []string{"ID", "NAME", "KIND", "PARENT", "SIZE", "PRIVATE", "VALID"}, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "engine %s (%s), %d volume(s); %s\n", l.Engine, l.Options, len(l.Volumes), spaceLine(l.Space))
	return err
}

// writeAlignedTable writes a header and rows in left-aligned columns
// separated by two spaces, without borders or trailing spaces.
func writeAlignedTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Right: "  ", Overwrite: true}),
	)
	t.Header(header)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}
