package results

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// CollectEnv describes the machine a run is measured on: snapbench version
// and commit (given by the caller, usually from build info), Go version,
// kernel (uname), CPU model (/proc/cpuinfo), cores, memory and hostname.
// What cannot be read is left empty; it never fails.
func CollectEnv(version, commit string) Env {
	e := Env{Version: version, Commit: commit, GoVersion: runtime.Version(), Cores: runtime.NumCPU()}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		e.Kernel = strings.TrimSpace(utsString(u.Sysname[:]) + " " + utsString(u.Release[:]) + " " + utsString(u.Machine[:]))
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		e.CPU = cpuModel(data)
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		e.MemBytes = memTotal(data)
	}
	if e.MemBytes == 0 {
		var si syscall.Sysinfo_t
		if syscall.Sysinfo(&si) == nil {
			e.MemBytes = int64(si.Totalram) * int64(si.Unit)
		}
	}
	e.Hostname, _ = os.Hostname()
	return e
}

func utsString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// cpuModel returns the first "model name" (x86) or "Model"/"CPU part"
// (arm) of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	var fallback string
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			return v
		case "Model", "Hardware", "cpu model":
			if fallback == "" {
				fallback = v
			}
		}
	}
	return fallback
}

// memTotal returns MemTotal of /proc/meminfo in bytes.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
