package client_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/device/nbd/client"
	"github.com/snapbench/snapbench/nbd"
)

// TestSplitsLongIO checks that IO longer than the client's maximum request
// is sent as several requests and lands where it should.
func TestSplitsLongIO(t *testing.T) {
	for _, sector := range []int{512, 4096} {
		mem, err := device.NewMem(4<<20, device.MemOptions{SectorSize: sector})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := nbd.NewServer([]nbd.Export{{Name: "m", Device: mem}}, nbd.ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "s")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, "unix", sock, "m")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		client.SetMaxRequest(c, 64<<10)
		big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20+sector)/16)
		off := 3 * int64(sector)
		if _, err := c.WriteAt(big, off); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(big))
		if _, err := c.ReadAt(got, off); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("sector %d: split IO: err %v, equal %v", sector, err, bytes.Equal(got, big))
		}
		direct := make([]byte, len(big))
		if _, err := mem.ReadAt(direct, off); err != nil || !bytes.Equal(direct, big) {
			t.Fatalf("sector %d: device content differs: %v", sector, err)
		}
		c.Close()
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		cancel()
	}
}
