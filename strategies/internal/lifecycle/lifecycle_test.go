package lifecycle

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

func TestLifeCheckIO(t *testing.T) {
	buf := device.Alloc(4096)
	cases := []struct {
		name   string
		p      []byte
		off    int64
		closed bool
		want   error
	}{
		{"ok", buf[:512], 512, false, nil},
		{"unaligned offset", buf[:512], 100, false, device.ErrUnaligned},
		{"unaligned length", buf[:100], 0, false, device.ErrUnaligned},
		{"past the end", buf[:1024], 4096 - 512, false, device.ErrOutOfRange},
		{"closed", buf[:512], 0, true, strategies.ErrClosed},
		{"closed beats a bad IO", buf[:100], 7, true, strategies.ErrClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l Handle
			l.Init(`eng: volume "v"`, nil, nil)
			if c.closed {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			err := l.CheckIO(c.p, c.off, 512, 512, 4096)
			if c.want == nil {
				if err != nil {
					t.Fatalf("CheckIO = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckIO = %v, want an error wrapping %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), `eng: volume "v": `) {
				t.Errorf("error %q does not start with the label", err)
			}
		})
	}
}

func TestLifeCloseOnce(t *testing.T) {
	var l Handle
	var released atomic.Int32
	relErr := errors.New("release failed")
	l.Init("eng", nil, func() error { released.Add(1); return relErr })
	if err := l.Err(); err != nil {
		t.Fatalf("Err before Close = %v", err)
	}
	var wg sync.WaitGroup
	var firsts atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := l.Close(); {
			case errors.Is(err, relErr):
				firsts.Add(1)
			case !errors.Is(err, strategies.ErrClosed):
				t.Errorf("later Close = %v, want ErrClosed", err)
			}
		}()
	}
	wg.Wait()
	if released.Load() != 1 || firsts.Load() != 1 {
		t.Fatalf("release ran %d times, first Close seen %d times; want 1 and 1", released.Load(), firsts.Load())
	}
	if !l.closed.Load() || !errors.Is(l.Err(), strategies.ErrClosed) {
		t.Fatalf("after Close: closed %v Err %v", l.closed.Load(), l.Err())
	}
}

func TestUncount(t *testing.T) {
	var mu sync.Mutex
	open := 2
	var l Handle
	l.Init("eng", nil, Uncount(&mu, &open))
	l.Close()
	l.Close()
	if open != 1 {
		t.Fatalf("two Closes of one handle left the count at %d, want 1", open)
	}
}

func TestHandleEngineClosed(t *testing.T) {
	var engine atomic.Bool
	var l Handle
	l.Init("eng", &engine, nil)
	if err := l.Err(); err != nil {
		t.Fatalf("Err with the engine open = %v", err)
	}
	engine.Store(true)
	if err := l.CheckIO(make([]byte, 512), 0, 512, 1, 4096); !errors.Is(err, strategies.ErrClosed) {
		t.Fatalf("CheckIO with the engine closed = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("first Close of a handle of a closed engine = %v, want nil (it releases)", err)
	}
}
