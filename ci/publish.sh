#!/usr/bin/env bash
# Publish the default suite's results on this machine: runs every engine on a
# 1 GiB sparse file with direct IO (or DEVICE=...), then writes
# docs/results.md (environment, headline and phase tables) and docs/plots/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SNAPBENCH:-bin/snapbench}"
out="docs/run"
rm -rf "$out" docs/plots
devflag=()
if [ -n "${DEVICE:-}" ]; then devflag=(--device "$DEVICE"); fi
"$bin" run "${devflag[@]}" --out "$out" ${SPEC:+--spec "$SPEC"}
"$bin" plot --quiet --format svg --out docs/plots "$out"
{
	echo "# snapbench results"
	echo
	echo "Produced by \`make publish\` (ci/publish.sh): \`snapbench run\` with the default"
	echo "suite on a 1 GiB sparse file with direct IO, then \`snapbench report --format markdown\`."
	echo "Regenerate them on your machine with the same command."
	echo
	echo "## Environment"
	echo
	echo '```'
	"$bin" version
	echo "kernel: $(uname -sr)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
	echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
	echo "date: $(date -u +%Y-%m-%d)"
	echo '```'
	echo
	"$bin" report --format markdown "$out"
	echo
	echo "## Plots"
	echo
	echo "A selection; docs/plots/ holds every chart \`snapbench plot\` drew."
	echo
	for f in overwrite-overwrite-vs-fanout-write-amp overwrite-overwrite-vs-fanout-write-p99 \
		overwrite-overwrite_fanout=100-write-cdf snaptree-steady-series-base_write_mean \
		clonebush-burst-clone-cdf clonebush-boot-read-cdf clonebush-boot-write-cdf; do
		[ -e "docs/plots/$f.svg" ] || continue
		echo "![$f](plots/$f.svg)"
		echo
	done
} > docs/results.md
echo "publish: wrote docs/results.md, docs/plots/ and the result files in $out"
