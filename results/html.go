package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot/vg"
)

// HTMLOptions tune WriteHTML.
type HTMLOptions struct {
	Title     string    // the document's title; default "snapbench results"
	Generator string    // what wrote the report, e.g. "snapbench v1.4.0"; printed at the end
	Generated time.Time // when; the zero time leaves it out (reproducible output)
}

// WriteHTML writes runs as one self-contained HTML document: inline CSS
// and SVG, no script, no external resource, readable offline and in print.
// In order: the headline table (medians, min–max spreads and status marks
// exactly as the terminal table shows them), the thesis figures (the ones
// Plot draws by default), every scenario's phase tables (wide tables
// scroll sideways inside their box), then the environment, the device, the
// configuration of each scenario (parameters, seed, engine options,
// trials) and the snapbench versions that measured the runs. It only
// reads runs.
func WriteHTML(w io.Writer, runs []*Run, opts HTMLOptions) error {
	if opts.Title == "" {
		opts.Title = "snapbench results"
	}
	collapsed := CollapseTrials(runs)
	doc := htmlDoc{Title: opts.Title, Generator: opts.Generator, Runs: len(runs)}
	if !opts.Generated.IsZero() {
		doc.Generated = opts.Generated.UTC().Format("2006-01-02 15:04 MST")
	}
	doc.Engines = engines(sortedCopy(runs))
	doc.Scenarios = scenarios(runs)
	doc.Headline = htmlTableOf(Headline(runs))
	for _, c := range thesisCharts(runs) {
		svg := c.svg(16*vg.Centimeter, 10*vg.Centimeter)
		if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
			svg = svg[i:]
		}
		doc.Figures = append(doc.Figures, htmlFigure{ID: "fig-" + c.name, Title: c.title, Caption: c.caption,
			SVG: template.HTML(svg)}) // #nosec: SVG written by this package, text escaped by its writer
	}
	var cur *htmlScenario
	for _, t := range PhaseTables(collapsed) {
		if cur == nil || cur.Name != t.Scenario {
			doc.Sections = append(doc.Sections, htmlScenario{Name: t.Scenario, ID: "scenario-" + sanitizeName(t.Scenario)})
			cur = &doc.Sections[len(doc.Sections)-1]
		}
		cur.Tables = append(cur.Tables, htmlTableOf(t))
	}
	doc.Envs = htmlEnvs(runs)
	doc.Configs = htmlConfigs(runs)
	return htmlTemplate.Execute(w, doc)
}

type htmlDoc struct {
	Title, Generator, Generated string
	Runs                        int
	Engines, Scenarios          []string
	Headline                    htmlTable
	Figures                     []htmlFigure
	Sections                    []htmlScenario
	Envs                        []htmlEnv
	Configs                     []htmlConfig
}

type htmlFigure struct {
	ID, Title, Caption string
	SVG                template.HTML
}

type htmlScenario struct {
	Name, ID string
	Tables   []htmlTable
}

type htmlTable struct {
	Title   string
	Columns []htmlCell
	Rows    [][]htmlCell
	Notes   []string
}

// htmlCell is a cell's text and its classes: num (right-aligned), best
// (marked *), tie (~), bad (a degraded or failed value, unsupported).
type htmlCell struct {
	Text, Class string
}

func htmlTableOf(t Table) htmlTable {
	h := htmlTable{Title: t.Title, Notes: t.Notes}
	num := make([]bool, len(t.Columns))
	for j := range t.Columns {
		num[j] = j > 0
		for _, row := range t.Rows {
			if j < len(row) && !row[j].Num && row[j].Text != Missing && row[j].Text != Unsupported && !t.Transposed {
				num[j] = false
			}
		}
	}
	for j, c := range t.Columns {
		cl := ""
		if num[j] {
			cl = "num"
		}
		h.Columns = append(h.Columns, htmlCell{Text: c.Header, Class: cl})
	}
	for _, row := range t.Rows {
		var cells []htmlCell
		for j, c := range row {
			var cls []string
			if j < len(num) && num[j] {
				cls = append(cls, "num")
			}
			switch text := c.Text; {
			case text == Unsupported, text == Missing:
				cls = append(cls, "none")
			case strings.HasPrefix(text, "degraded") || strings.HasPrefix(text, "failed") ||
				strings.HasPrefix(text, "incomplete") || strings.Contains(text, "["):
				cls = append(cls, "bad")
			case strings.HasSuffix(text, "*") || strings.HasPrefix(text, "*"):
				cls = append(cls, "best")
			case strings.HasSuffix(text, "~") || strings.HasPrefix(text, "~"):
				cls = append(cls, "tie")
			}
			cells = append(cells, htmlCell{Text: c.Text, Class: strings.Join(cls, " ")})
		}
		h.Rows = append(h.Rows, cells)
	}
	return h
}

// htmlEnv is one distinct environment and the runs measured in it.
type htmlEnv struct {
	Fields [][2]string
	Runs   []string
}

func htmlEnvs(runs []*Run) []htmlEnv {
	var out []htmlEnv
	idx := map[string]int{}
	for _, r := range sortedCopy(runs) {
		key, _ := json.Marshal(struct {
			E Env
			D any
		}{r.Env, r.Device})
		i, ok := idx[string(key)]
		if !ok {
			i = len(out)
			idx[string(key)] = i
			e, d := r.Env, r.Device
			f := [][2]string{
				{"snapbench", strings.TrimSpace(e.Version + " " + e.Commit)},
				{"Go", e.GoVersion},
				{"kernel", e.Kernel},
				{"CPU", fmt.Sprintf("%s (%d cores)", e.CPU, e.Cores)},
				{"memory", fmtBytes(float64(e.MemBytes))},
				{"host", e.Hostname},
				{"device", strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Kind, d.Path, d.Model))},
				{"device size", fmtBytes(float64(d.Size))},
				{"sectors", fmt.Sprintf("%d B logical, %d B physical", d.LogicalSector, d.PhysicalSector)},
				{"IO", ioDescription(d.DirectIO, d.IOEngine, d.IOSetup, d.Rotational, d.Discard)},
			}
			if d.Backing != "" {
				f = append(f, [2]string{"backing file", d.Backing})
			}
			var kept [][2]string
			for _, kv := range f {
				if strings.TrimSpace(kv[1]) != "" {
					kept = append(kept, kv)
				}
			}
			out = append(out, htmlEnv{Fields: kept})
		}
		label := r.Name() + " / " + r.Label()
		if r.Trial > 0 {
			label += fmt.Sprintf(" #%d", r.Trial)
		}
		out[i].Runs = append(out[i].Runs, label)
	}
	return out
}

func ioDescription(direct bool, engine, setup string, rotational, discard bool) string {
	var parts []string
	if direct {
		parts = append(parts, "direct IO")
	} else {
		parts = append(parts, "buffered IO")
	}
	switch {
	case engine != "" && setup != "":
		parts = append(parts, engine+" ("+setup+")")
	case engine != "":
		parts = append(parts, engine)
	}
	if rotational {
		parts = append(parts, "rotational")
	}
	if discard {
		parts = append(parts, "discard")
	}
	return strings.Join(parts, ", ")
}

// htmlConfig is one scenario's configuration: each parameter with its
// value, or each engine's value where they differ.
type htmlConfig struct {
	Name, Scenario string
	Params         [][2]string
}

func htmlConfigs(runs []*Run) []htmlConfig {
	var out []htmlConfig
	for _, name := range scenarios(runs) {
		rs := sortedCopy(runsOf(runs, name))
		c := htmlConfig{Name: name, Scenario: rs[0].Scenario}
		values := map[string]map[string][]string{} // key, value, labels
		add := func(k, v, who string) {
			if values[k] == nil {
				values[k] = map[string][]string{}
			}
			if !containsString(values[k][v], who) {
				values[k][v] = append(values[k][v], who)
			}
		}
		for _, r := range rs {
			who := r.Label()
			for k, v := range r.Params {
				add(k, v, who)
			}
			add("seed", fmt.Sprint(r.Seed), who)
			if r.EngineOptions != "" {
				add("engine options", r.EngineOptions, who)
			}
			if r.Trials > 0 {
				add("trials", fmt.Sprint(r.Trials), who)
			}
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vs := make([]string, 0, len(values[k]))
			for v := range values[k] {
				vs = append(vs, v)
			}
			sort.Strings(vs)
			if len(vs) == 1 {
				c.Params = append(c.Params, [2]string{k, vs[0]})
				continue
			}
			var parts []string
			for _, v := range vs {
				parts = append(parts, v+" ("+strings.Join(values[k][v], ", ")+")")
			}
			c.Params = append(c.Params, [2]string{k, strings.Join(parts, "; ")})
		}
		out = append(out, c)
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var htmlTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; margin: 0 auto; padding: 1.5em 2em; max-width: 78em; color: #1a1a1a; background: #fff; line-height: 1.4; }
h1 { margin: 0 0 .2em; font-size: 1.7em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
h3 { margin: 1.4em 0 .4em; font-size: 1.1em; }
.meta { color: #555; margin: 0 0 1em; }
nav ul { margin: .3em 0; padding-left: 1.2em; columns: 2; }
.scroll { overflow-x: auto; max-width: 100%; display: inline-block; vertical-align: top; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .86em; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e4e4e4; white-space: nowrap; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tr:nth-child(even) td { background: #fafafa; }
td.best { font-weight: bold; }
td.tie { color: #333; }
td.bad { color: #a33; }
td.none { color: #999; }
table.headline td:first-child { font-weight: 600; }
ul.notes { font-size: .85em; color: #444; margin: .4em 0 0; padding-left: 1.2em; }
figure { margin: 1.5em 0; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .9em; color: #444; margin-top: .3em; }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; margin: .5em 0; }
dl.kv dt { font-weight: 600; }
dl.kv dd { margin: 0; word-break: break-word; }
details summary { cursor: pointer; color: #333; }
footer { margin-top: 3em; color: #666; font-size: .85em; border-top: 1px solid #ccc; padding-top: .5em; }
@media print { .scroll { overflow: visible; border: 0; } body { max-width: none; } }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="meta">{{.Runs}} result files · scenarios: {{range $i, $s := .Scenarios}}{{if $i}}, {{end}}{{$s}}{{end}} · engines: {{range $i, $e := .Engines}}{{if $i}}, {{end}}{{$e}}{{end}}{{if .Generated}} · generated {{.Generated}}{{end}}</p>
<nav><ul>
<li><a href="#headline">Headline</a></li>
{{if .Figures}}<li><a href="#figures">Figures</a></li>{{end}}
{{range .Sections}}<li><a href="#{{.ID}}">{{.Name}} tables</a></li>{{end}}
<li><a href="#environment">Environment</a></li>
<li><a href="#configuration">Configuration</a></li>
</ul></nav>
</header>
<main>
<section id="headline">
<h2>Headline</h2>
{{with .Headline}}{{template "table" .}}{{end}}
</section>
{{if .Figures}}<section id="figures">
<h2>Figures</h2>
{{range .Figures}}<figure id="{{.ID}}">
{{.SVG}}
<figcaption><strong>{{.Title}}.</strong> {{.Caption}}</figcaption>
</figure>
{{end}}</section>{{end}}
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Name}}</h2>
{{range .Tables}}{{template "table" .}}{{end}}
</section>
{{end}}
<section id="environment">
<h2>Environment</h2>
{{range .Envs}}<dl class="kv">{{range .Fields}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>
{{if gt (len $.Envs) 1}}<details><summary>{{len .Runs}} runs measured here</summary><p>{{range $i, $r := .Runs}}{{if $i}}, {{end}}{{$r}}{{end}}</p></details>{{end}}
{{end}}</section>
<section id="configuration">
<h2>Configuration</h2>
{{range .Configs}}<h3>{{.Name}}{{if ne .Name .Scenario}} ({{.Scenario}}){{end}}</h3>
<dl class="kv">{{range .Params}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>
{{end}}</section>
</main>
<footer>{{if .Generator}}Written by {{.Generator}}. {{end}}snapbench report --format html: one file, no scripts, no network.</footer>
</body>
</html>
{{define "table"}}{{if ne .Title "headline"}}<h3>{{.Title}}</h3>{{end}}
<div class="scroll"><table{{if eq .Title "headline"}} class="headline"{{end}}>
<thead><tr>{{range .Columns}}<th{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
{{if .Notes}}<ul class="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}`))
