package results

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of a result file, as
// committed in results/schema.json. It is generated from the Run type by
// GenerateSchema; a test fails when the two differ, so the committed
// schema follows every change of the Go types.
//
//go:embed schema.json
var SchemaJSON []byte

// schemaID is the schema's $id.
const schemaID = "https://github.com/snapbench/snapbench/results/schema.json"

// schemaEnums are the closed value sets of string fields, by
// "Type.json_name".
var schemaEnums = map[string][]any{
	"Run.status": {StatusOK, StatusUnsupported, StatusIncomplete, StatusFailed},
}

// GenerateSchema returns the JSON Schema of a result file (a Run), made by
// reflection over the Go types and their json tags: one $defs entry per
// named struct type; a field without omitempty or omitzero is required;
// unknown properties are refused; nil slices and maps (written as null)
// are allowed where the field is not omitted when empty. The output is
// deterministic (indented, keys sorted).
func GenerateSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.ref(reflect.TypeOf(Run{}))
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         schemaID,
		"title":       "snapbench result file",
		"description": fmt.Sprintf("One engine, one scenario, one run (schema %d). Generated from the Go type results.Run.", SchemaVersion),
		"$ref":        root["$ref"],
		"$defs":       g.defs,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type schemaGen struct{ defs map[string]any }

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// ref returns the schema of t, adding named structs to defs.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{} // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.ref(t.Elem()))
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		return nullable(map[string]any{"type": "array", "items": g.ref(t.Elem())})
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.ref(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return nullable(map[string]any{"type": "object", "additionalProperties": g.ref(t.Elem())})
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // a recursive type refers to itself
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic(fmt.Sprintf("results: no schema for %s", t)) // a new kind in the result types
}

// nullable lets s be null too (a nil slice, map or pointer).
func nullable(s map[string]any) map[string]any {
	if ty, ok := s["type"].(string); ok {
		s["type"] = []any{ty, "null"}
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// object is the schema of a struct type, its properties named by their
// json tags (untagged exported fields by their names; embedded structs
// flattened as encoding/json does).
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.ref(f.Type)
		omitted := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		if omitted {
			// Omitted when empty: present means not null.
			if ty, ok := s["type"].([]any); ok && len(ty) == 2 && ty[1] == "null" {
				s["type"] = ty[0]
			}
		} else {
			*required = append(*required, name)
		}
		if e, ok := schemaEnums[t.Name()+"."+name]; ok {
			s["enum"] = e
		}
		props[name] = s
	}
}

// ValidateJSON checks a JSON document against a JSON Schema, for the
// subset of JSON Schema that GenerateSchema writes: type (a name or a
// list), properties, required, additionalProperties (false or a schema),
// items, minItems, maxItems, minimum, enum, anyOf and $ref to "#/$defs/…".
// Other keywords are refused, so that a schema using them is not checked
// half-way. It returns every violation found, each with its JSON path.
func ValidateJSON(schema, doc []byte) error {
	var root, v any
	if err := json.Unmarshal(schema, &root); err != nil {
		return fmt.Errorf("results: schema: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("results: document: %w", err)
	}
	rm, ok := root.(map[string]any)
	if !ok {
		return fmt.Errorf("results: schema is not an object")
	}
	val := &validator{root: rm}
	val.check(rm, v, "$")
	if len(val.errs) > 0 {
		if len(val.errs) > 10 {
			val.errs = append(val.errs[:10], fmt.Sprintf("and %d more", len(val.errs)-10))
		}
		return fmt.Errorf("results: not a valid result file: %s", strings.Join(val.errs, "; "))
	}
	return nil
}

type validator struct {
	root map[string]any
	errs []string
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, path+": "+fmt.Sprintf(format, args...))
}

var schemaKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true, "format": true,
	"$ref": true, "type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true, "minimum": true, "enum": true, "anyOf": true,
}

func (v *validator) check(s map[string]any, x any, path string) {
	for k := range s {
		if !schemaKeywords[k] {
			v.fail(path, "schema keyword %q is not supported by this validator", k)
			return
		}
	}
	if r, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(r, "#/$defs/")
		defs, _ := v.root["$defs"].(map[string]any)
		d, ok := defs[name].(map[string]any)
		if !found || !ok {
			v.fail(path, "unresolved $ref %q", r)
			return
		}
		v.check(d, x, path)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		matched := false
		for _, a := range alts {
			sub := &validator{root: v.root}
			if am, ok := a.(map[string]any); ok {
				sub.check(am, x, path)
				if len(sub.errs) == 0 {
					matched = true
					break
				}
			}
		}
		if !matched {
			v.fail(path, "matches none of anyOf")
		}
	}
	if t, ok := s["type"]; ok && !typeMatches(t, x) {
		v.fail(path, "is %s, want %v", jsonKind(x), t)
		return
	}
	if e, ok := s["enum"].([]any); ok {
		in := false
		for _, want := range e {
			if fmt.Sprint(want) == fmt.Sprint(x) {
				in = true
			}
		}
		if !in {
			v.fail(path, "%v is not one of %v", x, e)
		}
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := x.(json.Number); isNum {
			if f, err := n.Float64(); err == nil && f < m {
				v.fail(path, "%v is below the minimum %v", f, m)
			}
		}
	}
	switch x := x.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, has := x[r.(string)]; !has {
					v.fail(path, "lacks required property %q", r)
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k].(map[string]any); ok {
				v.check(p, x[k], path+"."+k)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					v.fail(path, "unknown property %q", k)
				}
			case map[string]any:
				v.check(ap, x[k], path+"."+k)
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			v.fail(path, "%d items, want at least %v", len(x), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			v.fail(path, "%d items, want at most %v", len(x), n)
		}
		if it, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				v.check(it, e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
}

func typeMatches(t, x any) bool {
	switch t := t.(type) {
	case string:
		return kindIs(t, x)
	case []any:
		for _, one := range t {
			if s, ok := one.(string); ok && kindIs(s, x) {
				return true
			}
		}
	}
	return false
}

func kindIs(t string, x any) bool {
	switch t {
	case "integer":
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64() // 1e3 or a uint64 beyond int64
		return err == nil && f == math.Trunc(f)
	case "number":
		_, ok := x.(json.Number)
		return ok
	}
	return jsonKind(x) == t
}

func jsonKind(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", x)
}
