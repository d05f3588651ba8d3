package mirror

import (
	"fmt"

	"github.com/snapbench/snapbench/device"
)

// loadBitmaps reads the change bitmap of every tracking split and the
// out-of-sync bitmap of every mirror. A block that does not decode (torn by
// a crash, or damaged) is taken as all ones and rewritten by recover.
func (e *Engine) loadBitmaps() error {
	for _, v := range e.vols {
		if v.changed != nil {
			if err := e.loadBitmap(v.changed, v.ext); err != nil {
				return err
			}
		}
	}
	for _, m := range e.mirs {
		if err := e.loadBitmap(m.oos, m.ext); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) loadBitmap(b *chunkBitmap, ext int64) error {
	nb := b.blocks()
	const batch = 64
	buf := device.GetBuffer(int(min(nb, batch) * blockSize))
	defer device.PutBuffer(buf)
	for first := int64(0); first < nb; first += batch {
		k := min(nb-first, batch)
		if _, err := e.dev.ReadAt(buf[:k*blockSize], ext+first*blockSize); err != nil {
			return fmt.Errorf("mirror: read bitmap: %w", err)
		}
		for j := int64(0); j < k; j++ {
			if b.loadBlock(first+j, buf[j*blockSize:(j+1)*blockSize]) {
				e.st.repairs.Add(1)
			}
		}
	}
	return nil
}

// recover replays the write-intent log. Every region whose bit is set (all
// of them if the block is torn) may hold writes that reached some copies and
// not others, or whose change bits never reached the device. For each
// extent overlapping such a region, the chunks it covers are marked:
//
//   - a volume's: out of sync in each of its mirrors, changed in each split
//     tracking it and in its own change bitmap if it is a tracking split;
//   - a mirror's: out of sync (it may have been a split volume written
//     before being re-established).
//
// Then the bitmaps are written and flushed, and only then the intent block
// is cleared and flushed: a crash during recovery replays it again. With
// nothing to replay it costs one read.
func (e *Engine) recover() error {
	dirty, damaged, err := e.intent.load()
	if err != nil {
		return err
	}
	if damaged {
		e.st.repairs.Add(1)
	}
	region := e.intent.regionSize()
	replay := damaged
	for _, w := range dirty {
		replay = replay || w != 0
	}
	// each calls mark with the chunk range [c0, c1] of the data at [data,
	// data+size) that each dirty region covers.
	each := func(data, size int64, mark func(c0, c1 int64)) {
		for r := data / region; r*region < data+size && r < int64(len(e.intent.regions)); r++ {
			if dirty[r>>6]&(1<<(r&63)) == 0 {
				continue
			}
			lo, hi := max(data, r*region), min(data+size, (r+1)*region)
			if lo >= hi {
				continue
			}
			c0, c1 := (lo-data)/e.chunk, (hi-1-data)/e.chunk
			e.st.recoveredChunks.Add(c1 - c0 + 1)
			mark(c0, c1)
		}
	}
	for _, v := range e.vols {
		each(v.dataOff(), v.size, func(c0, c1 int64) {
			for _, m := range v.mirrors {
				m.oos.setRange(c0, c1)
			}
			for _, t := range v.trackers {
				t.changed.setRange(c0, c1)
			}
			if v.changed != nil {
				v.changed.setRange(c0, c1)
			}
		})
	}
	for _, m := range e.mirs {
		each(m.dataOff(), m.size, func(c0, c1 int64) { m.oos.setRange(c0, c1) })
	}
	n, err := e.writeAllDirty()
	if err != nil {
		return err
	}
	if !replay && n == 0 {
		return nil
	}
	if err := e.dev.Flush(); err != nil {
		return fmt.Errorf("mirror: recover: %w", err)
	}
	if err := e.intent.format(); err != nil {
		return err
	}
	if err := e.dev.Flush(); err != nil {
		return fmt.Errorf("mirror: recover: %w", err)
	}
	return nil
}
