package results_test

import (
	"bytes"
	"context"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// htmlRuns is a small synthetic result set: four engines, every scenario,
// two trials of cow degraded so that status marks show.
func htmlRuns(t *testing.T) []*results.Run {
	t.Helper()
	var runs []*results.Run
	for _, r := range resultstest.Runs(1, "", 1) {
		switch r.Engine {
		case "raw", "cow", "row", "linked":
			runs = append(runs, r)
		}
	}
	return runs
}

func writeHTML(t *testing.T, runs []*results.Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := results.WriteHTML(&b, runs, results.HTMLOptions{Title: "test <report>", Generator: "snapbench test"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWriteHTML checks the page's contract: self-contained (no script, no
// external resource), the sections in order, every table and figure, the
// headline's cells as the terminal shows them, text escaped.
func TestWriteHTML(t *testing.T) {
	runs := htmlRuns(t)
	page := writeHTML(t, runs)
	s := string(page)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)\s(src|href)="(https?:)?//`),
		regexp.MustCompile(`(?i)url\(\s*['"]?(https?:)?//`),
		regexp.MustCompile(`(?i)<link\b`),
		regexp.MustCompile(`(?i)<img\b`),
		regexp.MustCompile(`(?i)\son[a-z]+=`),
	} {
		if loc := bad.FindStringIndex(s); loc != nil {
			t.Errorf("not self-contained: %q", s[loc[0]:min(loc[1]+40, len(s))])
		}
	}
	if !strings.Contains(s, "<title>test &lt;report&gt;</title>") {
		t.Error("title not escaped or missing")
	}
	// Sections in reading order: headline first.
	last := -1
	for _, id := range []string{`id="headline"`, `id="figures"`, `id="scenario-clonebush"`, `id="environment"`, `id="configuration"`} {
		i := strings.Index(s, id)
		if i < 0 {
			t.Errorf("no section %s", id)
			continue
		}
		if i < last {
			t.Errorf("section %s out of order", id)
		}
		last = i
	}
	// Every headline cell and every phase table, with their text.
	head := results.Headline(runs)
	for _, row := range head.Rows {
		for _, c := range row {
			if !strings.Contains(s, ">"+html.EscapeString(c.Text)+"<") {
				t.Errorf("headline cell %q missing", c.Text)
			}
		}
	}
	for _, tb := range results.PhaseTables(results.CollapseTrials(runs)) {
		if !strings.Contains(s, "<h3>"+html.EscapeString(tb.Title)+"</h3>") {
			t.Errorf("table %q missing", tb.Title)
		}
	}
	if n := strings.Count(s, "<svg"); n < 6 {
		t.Errorf("%d inline figures, want the thesis figures (at least 6)", n)
	}
	if strings.Contains(s, "<?xml") {
		t.Error("an SVG's XML declaration is inside the HTML")
	}
	for _, want := range []string{"snapbench test", "kernel", "seed", runs[0].Env.GoVersion, `class="scroll"`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the page", want)
		}
	}
}

// TestWriteHTMLEmpty: no runs is still a page, not an error.
func TestWriteHTMLEmpty(t *testing.T) {
	page := writeHTML(t, nil)
	if !bytes.Contains(page, []byte("</html>")) {
		t.Fatal("no complete page for no runs")
	}
}

// chromium finds a headless-capable Chromium ("" if none).
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestHTMLRendersInChromium renders the report in a real headless
// Chromium (Debian's chromium; CI installs it) and checks that it loads
// without a console message or a failed request, that the DOM it built
// holds the sections and figures, and that the screenshot is a PNG of the
// asked size that is not blank. Skips where no Chromium is installed.
// SNAPBENCH_REPORT_PNG=path keeps the screenshot.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, writeHTML(t, htmlRuns(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (stdout, stderr []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
		// Debian's chromium is a script that starts the browser and its
		// helpers: on a timeout, kill the whole process group, and stop
		// waiting for pipes a stray child still holds.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, errb.Bytes())
		}
		for _, line := range strings.Split(errb.String(), "\n") {
			if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Failed to load resource") ||
				strings.Contains(line, "net::ERR_") {
				t.Errorf("chromium: %s", line)
			}
		}
		return out.Bytes(), errb.Bytes()
	}
	dom, _ := run("--dump-dom")
	for _, want := range []string{`id="headline"`, `id="figures"`, `id="environment"`, `id="configuration"`, "</svg>"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("the DOM Chromium built has no %s", want)
		}
	}
	if n := bytes.Count(dom, []byte("<svg")); n < 6 {
		t.Errorf("the DOM Chromium built has %d figures, want at least 6", n)
	}
	shot := filepath.Join(dir, "report.png")
	if keep := os.Getenv("SNAPBENCH_REPORT_PNG"); keep != "" {
		shot = keep
	}
	const w, h = 1280, 2400
	run("--screenshot="+shot, "--window-size=1280,2400")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	if ink := inkFraction(img); ink < 0.02 {
		t.Errorf("screenshot is nearly blank: %.2f%% of pixels not white", 100*ink)
	}
}

// inkFraction is the fraction of pixels that are not near white.
func inkFraction(img image.Image) float64 {
	b := img.Bounds()
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				ink++
			}
		}
	}
	return float64(ink) / float64((b.Dx()/2)*(b.Dy()/2))
}
