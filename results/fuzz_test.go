package results_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// FuzzLoad feeds arbitrary bytes to the result-file parser and everything
// that reads a parsed run: it must never panic, and a run it accepts must
// render and compare.
func FuzzLoad(f *testing.F) {
	for _, r := range resultstest.Runs(1, "", 1)[:4] {
		data, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"schema":1}`, `{"schema":2}`, `{"schema":-1}`,
		`{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"p","ops":{"read":{"count":1,"hdr":"HISTFAAAACl42pJpmSzMwMDAxQABzFCaEUzOmNZg/wEi0NgEAAAA//8k0QU9"}}}]}`,
		`{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"p","intervals":[{"op":"read","start_ms":0,"length_ms":1000,"count":1,"hdr":"HISTFAAAACl42pJpmSzMwMDAxQABzFCaEUzOmNZg/wEi0NgEAAAA//8k0QU9"}]}]}`,
		`{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"p","intervals":[{"op":"read","start_ms":-5,"length_ms":1,"count":1,"hdr":"HISTFAAA"}]}]}`,
		`{"schema":1,"engine":"e","scenario":"s","status":"ok","params":{"sweep_param":"fanout","fanout":"1e308"},"phases":[{"name":"p","metrics":{"fanout":-0}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := results.Parse(data)
		if err != nil {
			if r != nil {
				t.Fatal("Parse returned a run with an error")
			}
			return
		}
		runs := []*results.Run{r}
		if err := results.Render(discard{}, results.Report(runs), results.FormatCSV); err != nil {
			t.Fatal(err)
		}
		results.Compare(runs, runs, results.CompareOptions{})
		if err := results.WriteBench(discard{}, runs); err != nil {
			t.Fatal(err)
		}
		if err := results.WriteHlog(discard{}, r); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FuzzReadHlog feeds arbitrary bytes to the .hlog reader: it must never
// panic, and what it reads must have decoded histograms.
func FuzzReadHlog(f *testing.F) {
	for _, r := range resultstest.Runs(1, "", 1)[:2] {
		var b bytes.Buffer
		if err := results.WriteHlog(&b, r); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	for _, s := range []string{"", "#[StartTime: 1 (seconds since epoch)]\n", "Tag=a/b,0.1,1.0,2.0,HISTFAAAACl42pJpmSzMwMDAxQABzFCaEUzOmNZg/wEi0NgEAAAA//8k0QU9\n",
		"0.1,1.0,2.0,HISTFAAA\n", "Tag=,x,y,z,\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		iv, err := results.ReadHlog(bytes.NewReader(data))
		for _, x := range iv {
			if x.Histogram == nil {
				t.Fatalf("interval %q without a histogram (err %v)", x.Tag, err)
			}
		}
		_ = results.HlogTags(iv)
	})
}
