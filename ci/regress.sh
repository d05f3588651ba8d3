#!/usr/bin/env bash
# CI regression run: the fixed suite in ci/suite.yaml on a loop device (a
# sparse file attached with direct IO when root; the file itself otherwise),
# compared with the committed baseline in ci/baseline.
#
#   ci/regress.sh            run and compare; exit 1 on a regression
#   ci/regress.sh baseline   run and replace ci/baseline with the results
#
# Environment: THRESHOLD (timing ratio change that fails, default 200%: the
# machine is shared, and raw and the engine it is compared with run at
# different moments, so only a gross slowdown is a signal; the counters are
# what is exact),
# SIZE (device size, default 2G), SNAPBENCH (the binary, default bin/snapbench).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-check}"
threshold="${THRESHOLD:-200%}"
size="${SIZE:-2G}"
bin="${SNAPBENCH:-bin/snapbench}"
work="$(mktemp -d "${TMPDIR:-/var/tmp}/snapbench-ci.XXXXXX")"
img="$work/device.img"
out="$work/results"
loop=""

cleanup() {
	if [ -n "$loop" ]; then
		losetup -d "$loop" 2>/dev/null || true
		echo "regress: detached $loop"
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

truncate -s "$size" "$img"
dev="$img"
if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null 2>&1; then
	if loop="$(losetup --find --show --direct-io=on "$img" 2>/dev/null)"; then
		dev="$loop"
		echo "regress: $img attached as $loop with direct IO"
	else
		loop=""
		echo "regress: could not attach a loop device; using the file $img directly"
	fi
else
	echo "regress: not root (or no losetup); using the file $img directly"
fi

"$bin" run --device "$dev" --spec ci/suite.yaml --out "$out"

if [ "$mode" = baseline ]; then
	rm -rf ci/baseline
	mkdir -p ci/baseline
	cp "$out"/*.json ci/baseline/
	echo "regress: baseline replaced: review it with git diff ci/baseline"
	exit 0
fi
"$bin" compare --threshold "$threshold" ci/baseline "$out"
