#!/usr/bin/env bash
# ci/serve-vs-qemu.sh [TRIALS]: snapbench serve against qemu-nbd through
# fio's nbd engine, side by side: 4 KiB random writes and reads at queue
# depth 1 and 16, 8 s each, in TRIALS interleaved trials (default 3).
# snapbench serves a 1 GiB volume of the raw engine on a sparse file (direct
# IO); qemu-nbd serves a 1 GiB sparse raw file with --cache=none
# --aio=native (direct IO too). Prints each trial and the medians with the
# ratio snapbench / qemu-nbd. Needs fio and qemu-utils; files go to $WORK
# (default a temporary directory, removed after). A benchmark: run it on a
# quiet machine, never in CI's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SNAPBENCH:-$PWD/bin/snapbench}"
trials="${1:-3}"
work="${WORK:-$(mktemp -d /var/tmp/snapbench-serve-vs-qemu-XXXXXX)}"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" format --device "$work/sb.img" --size 2G --engine raw >/dev/null
"$bin" volume create --device "$work/sb.img" --name vm1 --size 1G >/dev/null
truncate -s 1G "$work/q.img"

iops() { # uri qd rw: fio's IOPS
	fio --name=t --ioengine=nbd --uri="$1" --rw="$3" --bs=4k --iodepth="$2" --size=1G \
		--time_based --runtime=8 --output-format=terse --terse-version=3 2>/dev/null |
		awk -F';' -v rw="$3" 'NF > 50 { print (rw ~ /read/) ? $8 : $49 }'
}
results=$(
	for trial in $(seq "$trials"); do
		for srv in serve qemu-nbd; do
			sock="$work/$srv.sock"
			rm -f "$sock"
			if [ "$srv" = serve ]; then
				"$bin" serve --device "$work/sb.img" --volume vm1 --socket "$sock" >/dev/null 2>&1 &
			else
				qemu-nbd -f raw -t -x vm1 -k "$sock" --cache=none --aio=native "$work/q.img" >/dev/null 2>&1 &
			fi
			pid=$!
			for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
			for qd in 1 16; do
				for rw in randwrite randread; do
					echo "$trial $srv qd$qd $rw $(iops "nbd+unix:///vm1?socket=$sock" "$qd" "$rw")"
				done
			done
			kill "$pid"
			wait "$pid" 2>/dev/null || true
			pid=
		done
	done
)
echo "$results" | sed 's/^/trial /'
echo "$results" | awk '
	{ v[$2 " " $3 " " $4] = v[$2 " " $3 " " $4] " " $5 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		printf "%-16s %12s %12s %8s\n", "test", "serve IOPS", "qemu-nbd", "ratio"
		split("qd1 randwrite,qd1 randread,qd16 randwrite,qd16 randread", tests, ",")
		for (i = 1; i <= 4; i++) {
			s = median(v["serve " tests[i]]); q = median(v["qemu-nbd " tests[i]])
			printf "%-16s %12d %12d %7.2fx\n", tests[i], s, q, (q > 0 ? s / q : 0)
		}
	}'
