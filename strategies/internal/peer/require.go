package peer

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/snapbench/snapbench/strategies"
)

// Require checks what a peer engine needs on this machine: root, the loop
// driver, the kernel file system fstype ("" for none) and the tools on
// PATH. It returns nil, or an error wrapping strategies.ErrUnsupported
// that names everything missing and the Debian packages to install.
func Require(engine, fstype string, tools map[string]string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (loop devices and mounts)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		missing = append(missing, "the loop driver (/dev/loop-control)")
	}
	if fstype != "" && !kernelHas(fstype) {
		missing = append(missing, fmt.Sprintf("kernel support for %s (not in /proc/filesystems; modprobe %s?)", fstype, fstype))
	}
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w on this machine: needs %s", engine, strategies.ErrUnsupported, strings.Join(missing, ", "))
}

// kernelHas reports whether the running kernel knows file system fstype.
// A module not loaded yet is not listed; mount would load it, so a missing
// entry with a module present is accepted too.
func kernelHas(fstype string) bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == fstype {
			return true
		}
	}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		if _, err := os.Stat("/lib/modules/" + strings.TrimSpace(string(rel)) + "/kernel/fs/" + fstype); err == nil {
			return true
		}
	}
	return false
}
