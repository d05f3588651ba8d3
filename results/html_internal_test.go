package results

import "testing"

// TestIODescription: the report's IO line names the IO engine and, for
// io_uring, the setup flags the kernel accepted.
func TestIODescription(t *testing.T) {
	for _, c := range []struct {
		direct              bool
		engine, setup       string
		rotational, discard bool
		want                string
	}{
		{true, "uring", "single_issuer,defer_taskrun", false, false, "direct IO, uring (single_issuer,defer_taskrun)"},
		{true, "uring", "", false, true, "direct IO, uring, discard"},
		{false, "psync", "", true, false, "buffered IO, psync, rotational"},
		{true, "", "", false, false, "direct IO"},
	} {
		if got := ioDescription(c.direct, c.engine, c.setup, c.rotational, c.discard); got != c.want {
			t.Errorf("ioDescription(%v, %q, %q, %v, %v) = %q, want %q", c.direct, c.engine, c.setup, c.rotational, c.discard, got, c.want)
		}
	}
}
