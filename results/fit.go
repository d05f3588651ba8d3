package results

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mattn/go-runewidth"
)

// TerminalWidth is the width, in terminal columns, that Render fits
// "table" output to unless told otherwise (RenderOptions.Wide).
const TerminalWidth = 120

// minLabelWidth is the narrowest a transposed table's label column is
// wrapped to before its value columns are split into several tables.
const minLabelWidth = 24

// tableWidth is the width of t rendered as a terminal table with box
// drawing: per column its widest cell (or header) plus one space each
// side, plus one rule per column and one at the end. Multi-line cells
// count by their widest line.
func tableWidth(t Table) int {
	w := 1
	for j := range t.Columns {
		w += columnWidth(t, j) + 3
	}
	return w
}

// columnWidth is the display width of column j's widest header or cell line.
func columnWidth(t Table, j int) int {
	w := textWidth(t.Columns[j].Header)
	for _, row := range t.Rows {
		if j < len(row) {
			w = max(w, textWidth(row[j].Text))
		}
	}
	return w
}

func textWidth(s string) int {
	w := 0
	for _, line := range strings.Split(s, "\n") {
		w = max(w, runewidth.StringWidth(line))
	}
	return w
}

// FitTable returns tables that show t within width terminal columns, as
// far as its leading identity columns allow:
//
//   - A phase table keeps its identity columns (engine, sweep value,
//     occurrence keys, status) and as many measurement columns as fit,
//     chosen by columnRank (time, p99, ops/s, amplification and the
//     scenario's own metrics first; p50, p99.9, space, CPU and memory
//     last), in their original order; a note names the columns left out.
//   - A transposed table (the headline: one row per metric, one column
//     per engine) wraps its label column down to minLabelWidth, then splits
//     its engine columns into several tables that each repeat the labels.
//
// Tables that already fit are returned unchanged. Notes are not counted:
// the terminal renderer wraps them. Markdown, CSV and JSON are never
// fitted. FitTable does not modify t.
func FitTable(t Table, width int) []Table {
	if width <= 0 || len(t.Columns) == 0 || tableWidth(t) <= width {
		return []Table{t}
	}
	if t.Transposed {
		return fitTransposed(t, width)
	}
	return []Table{fitColumns(t, width)}
}

// identityColumns is the number of leading columns that say what a row
// is: up to and including "status".
func identityColumns(t Table) int {
	for j, c := range t.Columns {
		if c.Key == "status" {
			return j + 1
		}
	}
	return 1
}

// columnRank orders a phase table's measurement columns for a narrow
// terminal: lower ranks are kept first.
func columnRank(key string) int {
	switch {
	case key == "seconds":
		return 0
	case strings.HasSuffix(key, "_p99"):
		return 1
	case key == "ops_per_s":
		return 2
	case key == "write_amp":
		return 3
	case key == "throughput_bytes_per_s", key == "read_amp":
		return 5
	case strings.HasSuffix(key, "_p50"):
		return 6
	case key == "device_ios_per_io":
		return 7
	case key == "data_after_bytes", key == "metadata_after_bytes":
		return 8
	case strings.HasSuffix(key, "_p99.9"):
		return 9
	case key == "cpu_s", key == "engine_memory_bytes", key == "engine_memory_per_volume_bytes":
		return 10
	}
	return 4 // a scenario's own metric (Phase.Metrics): what the phase is about
}

func fitColumns(t Table, width int) Table {
	id := identityColumns(t)
	used := 1
	for j := 0; j < id; j++ {
		used += columnWidth(t, j) + 3
	}
	order := make([]int, 0, len(t.Columns)-id)
	for j := id; j < len(t.Columns); j++ {
		order = append(order, j)
	}
	sort.SliceStable(order, func(a, b int) bool {
		return columnRank(t.Columns[order[a]].Key) < columnRank(t.Columns[order[b]].Key)
	})
	keep := make([]bool, len(t.Columns))
	for j := 0; j < id; j++ {
		keep[j] = true
	}
	// Greedy by rank; a wide column that does not fit does not stop a
	// narrower, lower-ranked one from taking the room left.
	for _, j := range order {
		if w := columnWidth(t, j) + 3; used+w <= width {
			keep[j], used = true, used+w
		}
	}
	out := t
	out.Columns, out.Rows = nil, make([][]Cell, len(t.Rows))
	var dropped []string
	for j, c := range t.Columns {
		if keep[j] {
			out.Columns = append(out.Columns, c)
		} else {
			dropped = append(dropped, c.Header)
		}
	}
	for i, row := range t.Rows {
		for j, c := range row {
			if j < len(keep) && keep[j] {
				out.Rows[i] = append(out.Rows[i], c)
			}
		}
	}
	if len(dropped) > 0 {
		out.Notes = append(append([]string(nil), t.Notes...),
			fmt.Sprintf("%d more columns with --wide (or in markdown, csv, json): %s", len(dropped), strings.Join(dropped, ", ")))
	}
	return out
}

func fitTransposed(t Table, width int) []Table {
	rest := tableWidth(t) - (columnWidth(t, 0) + 3)
	if labelRoom := width - rest - 3; labelRoom >= minLabelWidth {
		return []Table{wrapLabels(t, labelRoom)}
	}
	// Split the value columns: each part gets the label column wrapped to
	// minLabelWidth (narrower if the widest value column needs the room)
	// and as many value columns as fit beside it.
	widest := 0
	for j := 1; j < len(t.Columns); j++ {
		widest = max(widest, columnWidth(t, j))
	}
	wrapped := wrapLabels(t, max(8, min(minLabelWidth, width-widest-7)))
	lw := columnWidth(wrapped, 0) + 3
	var parts []Table
	for j := 1; j < len(t.Columns); {
		cols := []int{0}
		used := 1 + lw
		for ; j < len(t.Columns); j++ {
			w := columnWidth(t, j) + 3
			if used+w > width && len(cols) > 1 {
				break
			}
			cols, used = append(cols, j), used+w
		}
		parts = append(parts, selectColumns(wrapped, cols))
	}
	for i := range parts {
		parts[i].Title = fmt.Sprintf("%s (%d of %d)", t.Title, i+1, len(parts))
		if i < len(parts)-1 {
			parts[i].Notes = nil // the notes follow the last part
		}
	}
	return parts
}

func selectColumns(t Table, cols []int) Table {
	out := t
	out.Columns, out.Rows = nil, make([][]Cell, len(t.Rows))
	for _, j := range cols {
		out.Columns = append(out.Columns, t.Columns[j])
	}
	for i, row := range t.Rows {
		for _, j := range cols {
			if j < len(row) {
				out.Rows[i] = append(out.Rows[i], row[j])
			}
		}
	}
	return out
}

// wrapLabels wraps the first column's cells at word boundaries to width.
func wrapLabels(t Table, width int) Table {
	out := t
	out.Rows = make([][]Cell, len(t.Rows))
	for i, row := range t.Rows {
		out.Rows[i] = append([]Cell(nil), row...)
		if len(row) > 0 {
			out.Rows[i][0].Text = strings.Join(wrapWords(row[0].Text, width), "\n")
		}
	}
	return out
}

// wrapWords breaks s into lines of at most width display columns at
// spaces; a word longer than width has a line of its own.
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case runewidth.StringWidth(line)+1+runewidth.StringWidth(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}
