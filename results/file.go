package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ext is the extension of a result file; HlogExt that of the HDR interval
// log written beside it.
const (
	Ext     = ".json"
	HlogExt = ".hlog"
)

// maxFileSize bounds what Load reads: a result file is a few MB at most.
const maxFileSize = 256 << 20

// FileName is the base name of r's result file:
// <scenario>-<engine>.json, or <scenario>-<engine>-<param><value>.json for
// a point of a sweep, then -trial<k> for trial k of a repeated point, with the run's label (Params["label"]) in place of
// the scenario when it has one. Characters outside [A-Za-z0-9._=+-] become
// '_'.
func FileName(r *Run) string {
	name := r.Name() + "-" + r.Engine
	if p, v := r.SweepPoint(); p != "" {
		name += "-" + p + v
	}
	if r.Trials > 1 {
		name += fmt.Sprintf("-trial%d", r.Trial)
	}
	return sanitizeName(name) + Ext
}

func sanitizeName(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '=' || c == '+' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// Write stores r as dir/FileName(r), and its HDR interval log beside it,
// atomically (temporary file, fsync, rename): a reader sees the old file or
// the new one, never a torn one. It creates dir if needed, sets r.Schema,
// and drops metric values that are not finite numbers (JSON cannot hold
// them), noting each in r.Warnings. It returns the result file's path.
func Write(dir string, r *Run) (string, error) {
	r.Schema = SchemaVersion
	dropNonFinite(r)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: encode %s/%s: %w", r.Scenario, r.Engine, err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	path := filepath.Join(dir, FileName(r))
	var hlog bytes.Buffer
	if err := WriteHlog(&hlog, r); err != nil {
		return "", fmt.Errorf("results: %s: %w", path, err)
	}
	if err := writeAtomic(strings.TrimSuffix(path, Ext)+HlogExt, hlog.Bytes()); err != nil {
		return "", err
	}
	if err := writeAtomic(path, data); err != nil {
		return "", err
	}
	return path, nil
}

func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("results: write %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync() // make the rename durable; best effort
		_ = d.Close()
	}
	return nil
}

func dropNonFinite(r *Run) {
	for i := range r.Phases {
		p := &r.Phases[i]
		for k, v := range p.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(p.Metrics, k)
				r.Warnings = append(r.Warnings, fmt.Sprintf("phase %s: metric %s was %v, dropped", p.Name, k, v))
			}
		}
		for j := range p.Series {
			s := &p.Series[j]
			kept := s.Points[:0]
			for _, pt := range s.Points {
				if isFinite(pt[0]) && isFinite(pt[1]) {
					kept = append(kept, pt)
				}
			}
			if n := len(s.Points) - len(kept); n > 0 {
				r.Warnings = append(r.Warnings, fmt.Sprintf("phase %s: series %s: %d non-finite points dropped", p.Name, s.Name, n))
			}
			s.Points = kept
		}
		for op, o := range p.Ops {
			if !isFinite(o.Mean) {
				o.Mean = 0
				p.Ops[op] = o
			}
		}
	}
	if !isFinite(r.Seconds) {
		r.Seconds = 0
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Load reads and validates one result file. Errors name the file and the
// problem; a file of a schema newer than SchemaVersion is refused as such.
func Load(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxFileSize+1)); err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	if buf.Len() > maxFileSize {
		return nil, fmt.Errorf("results: %s: larger than %d MiB, not a result file", path, maxFileSize>>20)
	}
	r, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return r, nil
}

// ErrNewerSchema is wrapped by Parse and Load for a file written by a newer
// snapbench.
var ErrNewerSchema = errors.New("written by a newer snapbench")

// ErrMalformed is wrapped by Parse and Load for a file that is not a valid
// result file.
var ErrMalformed = errors.New("malformed result file")

// Parse decodes and validates the contents of a result file. It never
// panics, whatever data holds.
func Parse(data []byte) (*Run, error) {
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, jsonProblem(data, err))
	}
	switch {
	case head.Schema == nil:
		return nil, fmt.Errorf("%w: no \"schema\" field: not a snapbench result file", ErrMalformed)
	case *head.Schema > SchemaVersion:
		return nil, fmt.Errorf("schema %d %w (this build reads schema %d and older): upgrade snapbench",
			*head.Schema, ErrNewerSchema, SchemaVersion)
	case *head.Schema < 1:
		return nil, fmt.Errorf("%w: invalid schema %d", ErrMalformed, *head.Schema)
	}
	r := new(Run)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, jsonProblem(data, err))
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return r, nil
}

// jsonProblem adds the line number to a JSON syntax error.
func jsonProblem(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(data)) {
		line := 1 + bytes.Count(data[:se.Offset], []byte{'\n'})
		return fmt.Sprintf("line %d: %v", line, err)
	}
	return err.Error()
}

// Validate checks what readers rely on: names present, a known status,
// phases named, counts not negative, histograms (of ops and intervals)
// decodable. A phase name may
// repeat (see PhaseRefs).
func (r *Run) Validate() error {
	if r.Engine == "" {
		return errors.New("no engine name")
	}
	if r.Scenario == "" {
		return errors.New("no scenario name")
	}
	switch r.Status {
	case StatusOK, StatusUnsupported, StatusIncomplete, StatusFailed:
	default:
		return fmt.Errorf("unknown status %q", r.Status)
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		if p.Name == "" {
			return fmt.Errorf("phase %d has no name", i)
		}
		if p.Seconds < 0 {
			return fmt.Errorf("phase %s: negative duration", p.Name)
		}
		for op, o := range p.Ops {
			if op == "" {
				return fmt.Errorf("phase %s: operation with no name", p.Name)
			}
			if o.Count < 0 || o.Bytes < 0 || o.Errors < 0 {
				return fmt.Errorf("phase %s: op %s: negative count", p.Name, op)
			}
			if _, err := o.Histogram(); err != nil {
				return fmt.Errorf("phase %s: op %s: %v", p.Name, op, err)
			}
		}
		for j, iv := range p.Intervals {
			if iv.Op == "" || iv.Count < 0 || iv.Length < 0 {
				return fmt.Errorf("phase %s: interval %d: no op name, or a negative count or length", p.Name, j)
			}
			if _, err := iv.Histogram(); err != nil {
				return fmt.Errorf("phase %s: interval %d (%s): %v", p.Name, j, iv.Op, err)
			}
		}
		for j, s := range p.Series {
			if s.Name == "" {
				return fmt.Errorf("phase %s: series %d has no name", p.Name, j)
			}
		}
	}
	return nil
}

// LoadAll loads result files and every *.json file in directories (searched
// recursively), in a deterministic order: by name (label or scenario),
// engine (in the order SetEngines gives), sweep value, then path. A path that is
// neither a file nor a directory, or a directory without result files, is
// an error; so is any file that fails to load.
func LoadAll(paths ...string) ([]*Run, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		n := len(files)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), Ext) && !strings.HasPrefix(d.Name(), ".") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		if len(files) == n {
			return nil, fmt.Errorf("results: %s: no result files (*%s)", p, Ext)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("results: no result files given")
	}
	runs := make([]*Run, 0, len(files))
	paths2 := make(map[*Run]string, len(files))
	for _, f := range files {
		r, err := Load(f)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
		paths2[r] = f
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if c := compareRuns(runs[i], runs[j]); c != 0 {
			return c < 0
		}
		return paths2[runs[i]] < paths2[runs[j]]
	})
	return runs, nil
}
