package strategytest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// runConcurrent drives one engine from several goroutines (for the race
// detector and for locking bugs): each worker owns a volume (a clone, its own
// base, or a region of the only volume) and checks its own reads; meanwhile
// the base is snapshotted while worker 0 writes it, and each snapshot must
// hold, per sector, a value worker 0 wrote there (or zeros).
func runConcurrent(t *testing.T, cfg Config) {
	f := newFixture(t, cfg)
	const workers = 4
	const opsPerWorker = 150
	chunk := f.chunk()
	sec := cfg.SectorSize
	regionChunks := 2
	baseChunks := regionChunks
	if !f.caps.MultiVolume && !f.caps.Clone {
		baseChunks = workers * regionChunks
	}
	base := f.create("base", baseChunks)
	type target struct {
		vol strategies.Volume
		off int64
	}
	targets := make([]target, workers)
	for w := 0; w < workers; w++ {
		switch {
		case w == 0:
			targets[w] = target{f.open(base), 0}
		case f.caps.Clone:
			id, err := f.eng.Clone(base, fmt.Sprintf("c%d", w))
			if err != nil {
				t.Fatal(err)
			}
			targets[w] = target{f.open(id), 0}
		case f.caps.MultiVolume:
			targets[w] = target{f.open(f.create(fmt.Sprintf("b%d", w), regionChunks)), 0}
		default:
			targets[w] = target{f.open(base), int64(w * regionChunks * chunk)}
		}
	}
	region := regionChunks * chunk
	// written[s] lists every value worker 0 wrote to base sector s.
	var mu sync.Mutex
	written := make(map[int][][]byte)
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			tg := targets[w]
			shadow := make([]byte, region)
			buf := device.Alloc(2 * chunk)
			for i := 0; i < opsPerWorker; i++ {
				n := (1 + rng.IntN(2*chunk/sec)) * sec
				off := rng.IntN((region-n)/sec+1) * sec
				if rng.IntN(2) == 0 {
					data := buf[:n]
					for j := range data {
						data[j] = byte(rng.Uint32())
					}
					if w == 0 {
						mu.Lock()
						for s := 0; s < n; s += sec {
							written[(off+s)/sec] = append(written[(off+s)/sec], append([]byte(nil), data[s:s+sec]...))
						}
						mu.Unlock()
					}
					if _, err := tg.vol.WriteAt(data, tg.off+int64(off)); err != nil {
						errs <- fmt.Errorf("worker %d write: %w", w, err)
						return
					}
					copy(shadow[off:], data)
				} else {
					if _, err := tg.vol.ReadAt(buf[:n], tg.off+int64(off)); err != nil {
						errs <- fmt.Errorf("worker %d read: %w", w, err)
						return
					}
					if !bytes.Equal(buf[:n], shadow[off:off+n]) {
						errs <- fmt.Errorf("worker %d: read at %d differs from what it wrote", w, off)
						return
					}
				}
				if i%50 == 0 {
					if err := tg.vol.Flush(); err != nil {
						errs <- fmt.Errorf("worker %d flush: %w", w, err)
						return
					}
				}
			}
		}(w)
	}
	var snaps []strategies.VolumeID
	if f.caps.Snapshot {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				id, err := f.eng.Snapshot(base, fmt.Sprintf("snap%d", i))
				if err != nil {
					errs <- fmt.Errorf("snapshot during writes: %w", err)
					return
				}
				snaps = append(snaps, id)
				f.eng.Volumes()
				f.eng.Space()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range snaps {
		sv := f.open(id)
		got := device.Alloc(region)
		if _, err := sv.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < region/sec; s++ {
			g := got[s*sec : (s+1)*sec]
			ok := bytes.Equal(g, make([]byte, sec))
			for _, w := range written[s] {
				ok = ok || bytes.Equal(g, w)
			}
			if !ok {
				t.Fatalf("snapshot %d sector %d holds a value never written there", id, s)
			}
		}
	}
}
