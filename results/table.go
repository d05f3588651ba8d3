package results

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table is a report table, independent of its output format. Cells carry
// both the text people read and, when numeric, the raw value in the
// column's unit that CSV and JSON output keep.
type Table struct {
	Title    string   `json:"title"`
	Scenario string   `json:"scenario,omitempty"`
	Phase    string   `json:"phase,omitempty"`
	Columns  []Column `json:"columns"`
	Rows     [][]Cell `json:"rows"`
	// RowKeys name the rows for machine-readable output: the run's label
	// ("cow fanout=100") in a phase table, the metric key and unit in a
	// Transposed table (rows are metrics, columns engines).
	RowKeys    []Column `json:"row_keys,omitempty"`
	Transposed bool     `json:"transposed,omitempty"`
	Notes      []string `json:"notes,omitempty"`
	// Origins say where each row's values come from (one per row, or none)
	// for CSV's run_id, version, trial, engine and sweep columns; a
	// Transposed table has one Origin for all its rows instead.
	Origins []Origin `json:"-"`
	Origin  Origin   `json:"-"`
}

// Origin is where a table row's values come from.
type Origin struct {
	RunID   string // the invocation's id (Run.RunID; "" when the runs disagree)
	Version string // snapbench version (Env.Version; "" when the runs disagree)
	// Trial is the trial the values come from, 0 when they are the median
	// of Trials trials (or there was one).
	Trial, Trials          int
	Engine                 string
	SweepParam, SweepValue string
}

// runOrigin is the origin of r's values.
func runOrigin(r *Run) Origin {
	p, v := r.SweepPoint()
	return Origin{RunID: r.RunID, Version: r.Env.Version, Trial: r.Trial, Trials: r.Trials,
		Engine: r.Engine, SweepParam: p, SweepValue: v}
}

// commonOrigin is what every run shares: run id and version when all
// agree, the most trials.
func commonOrigin(runs []*Run) Origin {
	var o Origin
	for i, r := range runs {
		if i == 0 {
			o.RunID, o.Version = r.RunID, r.Env.Version
		}
		if r.RunID != o.RunID {
			o.RunID = ""
		}
		if r.Env.Version != o.Version {
			o.Version = ""
		}
		o.Trials = max(o.Trials, r.Trials)
	}
	return o
}

// Column describes one column. Header is what tables show (with the
// display unit); Key and Unit name the raw values.
type Column struct {
	Header string `json:"header"`
	Key    string `json:"key"`
	Unit   string `json:"unit,omitempty"`
}

// Cell is one table cell.
type Cell struct {
	Text  string  // as displayed
	Value float64 // raw value in the column's unit, when Num
	Num   bool
}

// MarshalJSON writes a numeric cell as its raw value, else as its text.
func (c Cell) MarshalJSON() ([]byte, error) {
	if c.Num && isFinite(c.Value) {
		return json.Marshal(c.Value)
	}
	return json.Marshal(c.Text)
}

// Text cells for the states that are not measurements.
const (
	Missing     = "-"
	Unsupported = "unsupported"
)

func textCell(s string) Cell { return Cell{Text: s} }

func numCell(v float64, text string) Cell { return Cell{Text: text, Value: v, Num: true} }

// Output formats of Render.
const (
	FormatTable    = "table"
	FormatMarkdown = "markdown"
	FormatCSV      = "csv"
	FormatJSON     = "json"
)

// Formats lists the formats Render accepts.
var Formats = []string{FormatTable, FormatMarkdown, FormatCSV, FormatJSON}

// RenderOptions adjust Render.
type RenderOptions struct {
	// Wide keeps every column of "table" output however wide the table
	// is; by default tables are fitted to Width (FitTable).
	Wide bool
	// Width is the terminal width "table" output is fitted to (0:
	// TerminalWidth).
	Width int
}

// Render writes tables in format with the default options (RenderWith).
func Render(w io.Writer, tables []Table, format string) error {
	return RenderWith(w, tables, format, RenderOptions{})
}

// RenderWith writes tables in format: "table" (terminal, box drawing,
// fitted to opts.Width columns unless opts.Wide: see FitTable; notes
// wrapped to the width),
// "markdown" (GitHub tables under "### title" headings), "csv" (one long
// table with a single header row: table, row, metric, unit, value, text)
// or "json" (an array of tables; numeric cells as numbers in the column's
// unit). Markdown, CSV and JSON always carry every column.
func RenderWith(w io.Writer, tables []Table, format string, opts RenderOptions) error {
	switch format {
	case FormatTable:
		width := opts.Width
		if width <= 0 {
			width = TerminalWidth
		}
		if opts.Wide {
			return renderText(w, tables, false, 0)
		}
		var fitted []Table
		for _, t := range tables {
			fitted = append(fitted, FitTable(t, width)...)
		}
		return renderText(w, fitted, false, width)
	case FormatMarkdown:
		return renderText(w, tables, true, 0)
	case FormatCSV:
		return renderCSV(w, tables)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if tables == nil {
			tables = []Table{}
		}
		return enc.Encode(tables)
	}
	return fmt.Errorf("results: unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// renderText writes tables as terminal or Markdown tables; a terminal
// table's notes are wrapped to width (0: not wrapped).
func renderText(w io.Writer, tables []Table, markdown bool, width int) error {
	for i, t := range tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if markdown {
			fmt.Fprintf(w, "### %s\n\n", t.Title)
		} else {
			fmt.Fprintf(w, "%s\n", t.Title)
		}
		align := make([]tw.Align, len(t.Columns))
		for j := range align {
			align[j] = tw.AlignLeft
			if j > 0 && numericColumn(t, j) {
				align[j] = tw.AlignRight
			}
		}
		opts := []tablewriter.Option{
			tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithRowAutoWrap(tw.WrapNone),
			tablewriter.WithHeaderAutoWrap(tw.WrapNone),
			tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: align}),
			tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: align}),
		}
		if markdown {
			opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
		} else if multiLine(t) {
			// Wrapped labels: rules between rows tell one row from the next.
			opts = append(opts, tablewriter.WithRendition(tw.Rendition{
				Settings: tw.Settings{Separators: tw.Separators{BetweenRows: tw.On}}}))
		}
		tbl := tablewriter.NewTable(w, opts...)
		header := make([]any, len(t.Columns))
		for j, c := range t.Columns {
			header[j] = c.Header
		}
		tbl.Header(header...)
		for _, row := range t.Rows {
			cells := make([]string, len(row))
			for j, c := range row {
				cells[j] = c.Text
				if markdown {
					cells[j] = strings.ReplaceAll(c.Text, "|", `\|`)
				}
			}
			if err := tbl.Append(cells); err != nil {
				return fmt.Errorf("results: table %s: %w", t.Title, err)
			}
		}
		if err := tbl.Render(); err != nil {
			return fmt.Errorf("results: table %s: %w", t.Title, err)
		}
		if len(t.Notes) > 0 {
			if markdown {
				fmt.Fprintln(w)
			}
			for _, n := range t.Notes {
				if markdown {
					fmt.Fprintf(w, "- %s\n", n)
				} else {
					writeNote(w, n, width)
				}
			}
		}
	}
	return nil
}

// multiLine reports whether a cell of t spans several lines.
func multiLine(t Table) bool {
	for _, row := range t.Rows {
		for _, c := range row {
			if strings.Contains(c.Text, "\n") {
				return true
			}
		}
	}
	return false
}

// numericColumn reports whether any cell of column j holds a number.
func numericColumn(t Table, j int) bool {
	for _, row := range t.Rows {
		if j < len(row) && row[j].Num {
			return true
		}
	}
	return false
}

// CSVHeader is the header row of CSV output.
var CSVHeader = []string{"table", "scenario", "phase", "run_id", "version", "trial", "trials", "engine", "sweep_param", "sweep_value",
	"row", "metric", "unit", "value", "text"}

// renderCSV writes the tables in long form, one line per data cell: which
// table, where the row's values come from (run id, version, trial — empty
// for a median across trials —, engine and sweep point, each its own
// column), which row (engine or run label), which metric with its unit,
// the raw value (empty when not a number) and the displayed text.
func renderCSV(w io.Writer, tables []Table) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, t := range tables {
		for i, row := range t.Rows {
			if len(row) == 0 {
				continue
			}
			rowKey := Column{Key: row[0].Text}
			if i < len(t.RowKeys) {
				rowKey = t.RowKeys[i]
			}
			for j := 1; j < len(row) && j < len(t.Columns); j++ {
				c, col := row[j], t.Columns[j]
				val := ""
				if c.Num && isFinite(c.Value) {
					val = fmtRaw(c.Value)
				}
				who, metric, unit := rowKey.Key, col.Key, col.Unit
				var o Origin // unknown: a table that does not record it
				if i < len(t.Origins) {
					o = t.Origins[i]
				}
				if t.Transposed {
					who, metric, unit = col.Key, rowKey.Key, rowKey.Unit
					o = t.Origin
					o.Engine = col.Key
				}
				_ = cw.Write([]string{t.Title, t.Scenario, t.Phase, o.RunID, o.Version, countOrEmpty(o.Trial), countOrEmpty(o.Trials),
					o.Engine, o.SweepParam, o.SweepValue, who, metric, unit, val, c.Text})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeNote writes a terminal table's note, wrapped to width (0: one line)
// with its continuation lines indented under its text.
func writeNote(w io.Writer, note string, width int) {
	const first, indent = "  note: ", "        "
	if width <= len(first)+20 {
		fmt.Fprintf(w, "%s%s\n", first, note)
		return
	}
	for i, line := range wrapWords(note, width-len(first)) {
		if i == 0 {
			fmt.Fprintf(w, "%s%s\n", first, line)
		} else {
			fmt.Fprintf(w, "%s%s\n", indent, line)
		}
	}
}

func countOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
