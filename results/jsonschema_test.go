package results_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// TestSchemaMatchesTypes fails when results/schema.json and the Go result
// types drift apart: the committed schema must be what GenerateSchema makes
// of them (go test -run TestSchemaMatchesTypes -update rewrites it).
func TestSchemaMatchesTypes(t *testing.T) {
	got, err := results.GenerateSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, results.SchemaJSON) {
		t.Error("results/schema.json differs from the Go result types (go test ./results -run TestSchemaMatchesTypes -update rewrites it; review the diff)")
	}
}

// resultFiles writes the synthetic result set (one and three trials) as
// result files and returns their contents.
func resultFiles(t *testing.T) map[string][]byte {
	dir := t.TempDir()
	runs := resultstest.Runs(1, "", 1)
	for _, r := range trialRuns()[:5] {
		r.RunID, r.Command = "20261203T070000Z-42", []string{"snapbench", "run", "--repeat", "3"}
		runs = append(runs, r)
	}
	out := map[string][]byte{}
	for i, r := range runs {
		sub := dir
		if i >= len(runs)-5 {
			sub = t.TempDir()
		}
		file, err := results.Write(sub, r)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out[file] = data
	}
	return out
}

func TestResultFilesMatchSchema(t *testing.T) {
	files := resultFiles(t)
	if len(files) < 10 {
		t.Fatalf("only %d result files", len(files))
	}
	var one []byte // a file with phases, for the edits below
	for name, data := range files {
		if err := results.ValidateJSON(results.SchemaJSON, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var m struct{ Phases []any }
		if one == nil && json.Unmarshal(data, &m) == nil && len(m.Phases) > 0 {
			one = data
		}
	}
	if one == nil {
		t.Fatal("no result file with phases")
	}
	// A file that breaks the schema is told apart, with the path of the
	// problem.
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"unknown status", func(m map[string]any) { m["status"] = "great" }, `$.status: great is not one of`},
		{"unknown property", func(m map[string]any) { m["colour"] = "red" }, `unknown property "colour"`},
		{"missing engine", func(m map[string]any) { delete(m, "engine") }, `lacks required property "engine"`},
		{"string seed", func(m map[string]any) { m["seed"] = "7" }, `$.seed: is string, want integer`},
		{"negative seed", func(m map[string]any) { m["seed"] = -1 }, `below the minimum`},
		{"fractional count", func(m map[string]any) {
			m["phases"].([]any)[0].(map[string]any)["seconds"] = "x"
		}, `$.phases[0].seconds: is string`},
		{"command not strings", func(m map[string]any) { m["command"] = []any{1} }, `$.command[0]: is number, want string`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(one, &m); err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			data, _ := json.Marshal(m)
			err := results.ValidateJSON(results.SchemaJSON, data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to say %q", err, c.want)
			}
		})
	}
}

// A schema keyword the validator does not implement is refused, not skipped.
func TestValidateJSONRefusesUnknownKeywords(t *testing.T) {
	err := results.ValidateJSON([]byte(`{"type":"string","pattern":"^a"}`), []byte(`"b"`))
	if err == nil || !strings.Contains(err.Error(), `"pattern" is not supported`) {
		t.Errorf("error %v", err)
	}
}

func FuzzValidateJSON(f *testing.F) {
	f.Add([]byte(`{"schema":1,"engine":"row"}`))
	f.Add([]byte(`[1,2,{"a":null}]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = results.ValidateJSON(results.SchemaJSON, doc) // must not panic
	})
}
