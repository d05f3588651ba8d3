package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/snapbench/snapbench/device"
)

// precondition brings an SSD to steady state, as SNIA's performance test
// specification suggests: a sequential fill of the whole device in 1 MiB
// writes, then one device's worth of random 128 KiB overwrites. It takes
// about two device-fills of time.
func precondition(ctx context.Context, dev device.Device, c *Config) error {
	start := time.Now()
	buf := device.Alloc(1 << 20)
	for i := range buf {
		buf[i] = byte(i*31 + 7)
	}
	size := dev.Size() / (1 << 20) * (1 << 20)
	for off := int64(0); off < size; off += 1 << 20 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := dev.WriteAt(buf, off); err != nil {
			return fmt.Errorf("precondition: %w", err)
		}
	}
	const block = 128 << 10
	blocks := uint64(dev.Size() / block)
	x := uint64(0x9e3779b97f4a7c15)
	for i := uint64(0); i < blocks; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if _, err := dev.WriteAt(buf[:block], int64(x%blocks)*block); err != nil {
			return fmt.Errorf("precondition: %w", err)
		}
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("precondition: %w", err)
	}
	c.logf("preconditioned %s in %s", device.Describe(dev).Path, since(time.Since(start)))
	return nil
}
