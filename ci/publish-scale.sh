#!/usr/bin/env bash
# Publish the scale curves (issue #22) on this machine, from two runs made
# here and now:
#   thin:   the built-in spec `scale` (clones 100 to 100,000, one at a time
#           and in one CloneMany burst; volume size 1 GiB to 1 TiB) with
#           row, linked and cow on a 2 TiB sparse file (cow.delta-percent=1:
#           100,000 deltas of 10 MiB);
#   copies: ci/scale-copies.yaml (clones 100 to 10,000 of a 1 MiB volume)
#           with full and mirror, which copy every clone's data.
# It writes docs/scale.md (tables of per-clone time in the first and the
# last block of 1,000 clones, metadata and memory per clone, and the
# volume-size sweep), the figures in docs/plots/scale/ and the result files
# in docs/scale-run/. The device files go to $WORK (default
# /var/tmp/snapbench-scale; a few GiB are written) and are removed after.
# About 10 minutes on 2 cores; KEEP_RUNS=1 re-renders without running.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SNAPBENCH:-bin/snapbench}"
work="${WORK:-/var/tmp/snapbench-scale}"
out=docs/scale-run
plots=docs/plots/scale
# KEEP_RUNS=1 re-renders the page from the result files already in
# docs/scale-run (after a change to this script or to report and plot).
keep=""
if [ -n "${KEEP_RUNS:-}" ] && [ -d "$out/thin" ] && [ -d "$out/copies" ]; then keep=1; fi
if [ -z "$keep" ]; then rm -rf "$out"; fi
rm -rf "$plots"
mkdir -p "$work" "$plots"
trap 'rm -rf "$work/thin.img" "$work/copies.img" "$work/plots"' EXIT

# A run whose engine fails a point (cow's 1 TiB template and its 100 deltas
# do not fit 2 TiB) exits 1 and records the failure in its result files;
# anything else (2: bad usage or a refusal) stops here.
run() {
	local rc=0
	"$bin" run --repeat 1 --force "$@" || rc=$?
	if [ "$rc" -gt 1 ]; then exit "$rc"; fi
}
if [ -z "$keep" ]; then
	rm -f "$work/thin.img" "$work/copies.img"
	truncate -s 2t "$work/thin.img"
	truncate -s 64g "$work/copies.img"
	run --spec scale --engines row,linked,cow --opt cow.delta-percent=1 --device "$work/thin.img" --out "$out/thin"
	rm -f "$work/thin.img"
	run --spec ci/scale-copies.yaml --engines full,mirror --device "$work/copies.img" --out "$out/copies"
	rm -f "$work/copies.img"
fi
rm -rf "$work/plots"
"$bin" plot --all --quiet --format svg --out "$work/plots" "$out"

# The tables below pivot report's CSV (one value a line) with awk: times
# from their raw values (ns, µs) to three significant digits, bytes whole.
pivot='
	function d(x) { return x == "" ? "-" : x }
	function us(x) { return x == "" ? "-" : x >= 100 ? sprintf("%.0f", x) : sprintf("%.3g", x) }
	function ns(x) {
		if (x == "") return "-"
		if (x >= 1e9) return sprintf("%.3g s", x / 1e9)
		if (x >= 1e6) return sprintf("%.3g ms", x / 1e6)
		return x >= 1e5 ? sprintf("%.0f µs", x / 1e3) : sprintf("%.3g µs", x / 1e3)
	}
	function b(x) { return x == "" ? "-" : sprintf("%.0f", x) }
	function key() {
		k = $8 SUBSEP $10
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		return k
	}'

# clonetable RUNDIR SCENARIO: one row per engine and clone count, from the
# sweep's clones phase.
clonetable() {
	echo "| engine | clones | status | µs per clone, first 1,000 | µs per clone, last 1,000 | last / first | metadata per clone (bytes) | engine memory per volume (bytes) |"
	echo "|:--|--:|:--|--:|--:|--:|--:|--:|"
	"$bin" report --phases --format csv "$1" | awk -F, -v sc="$2" "$pivot"'
		$2 == sc && $3 == "clones" { k = key(); v[k, $12] = ($12 == "status") ? $15 : $14 }
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, p, SUBSEP)
				r = v[k, "last_over_first_block"]
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], d(v[k, "status"]),
					us(v[k, "first_block_clone_us"]), us(v[k, "last_block_clone_us"]), (r == "" ? "-" : sprintf("%.2f", r)),
					b(v[k, "metadata_per_clone_bytes"]), b(v[k, "engine_memory_per_volume_bytes"])
			}
		}'
}

# sizetable RUNDIR: create, snapshot and clone time against the volume size.
sizetable() {
	echo "| engine | volume size | status | create | snapshot | µs per clone (burst of 100) | delete p50 |"
	echo "|:--|--:|:--|--:|--:|--:|--:|"
	"$bin" report --phases --format csv "$1" | awk -F, "$pivot"'
		$2 == "scale-volume-size" { k = key(); v[k, $3 "/" $12] = ($12 == "status") ? $15 : $14 }
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, p, SUBSEP)
				st = "ok"
				split("create fill snapshot clones delete", ps, " ")
				for (j = 1; j <= 5; j++) if (v[k, ps[j] "/status"] != "" && v[k, ps[j] "/status"] != "ok") { st = v[k, ps[j] "/status"]; break }
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], st,
					ns(v[k, "create/create_p50"]), ns(v[k, "snapshot/snapshot_p50"]), us(v[k, "clones/first_block_clone_us"]),
					ns(v[k, "delete/delete_p50"])
			}
		}'
}

figure() { # figure FILE CAPTION: FILE into docs/plots/scale and a line for it, when plot drew it
	if [ -f "$work/plots/$1.svg" ]; then
		cp "$work/plots/$1.svg" "$plots/"
		echo "![$2](plots/scale/$1.svg)"
		echo
	fi
}

{
	echo "# snapbench at scale"
	echo
	echo "Produced by \`make publish-scale\` (ci/publish-scale.sh) from two runs on this"
	echo "machine, kept in [scale-run/](scale-run/):"
	echo
	echo "- \`snapbench run --spec scale --engines row,linked,cow --opt cow.delta-percent=1\`"
	echo "  on a 2 TiB sparse file: clones of a 1 GiB template (256 KiB written)"
	echo "  up to 100,000, one \`Clone\` at a time and in one \`CloneMany\` burst, and"
	echo "  a burst of 100 clones of templates of 1 GiB to 1 TiB;"
	echo "- \`snapbench run --spec ci/scale-copies.yaml --engines full,mirror\` on a"
	echo "  64 GiB sparse file: the same clone-count sweeps to 10,000 with 1 MiB"
	echo "  volumes, since full and mirror copy every clone's data (the built-in"
	echo "  spec's 1 GiB volumes fit 62 such clones on 64 GiB)."
	echo
	echo "Every point is one trial (\`--repeat 1\`) on a freshly formatted engine."
	echo "A sweep point of N clones times its first and its last block of 1,000"
	echo "clones (the whole run when N is 1,000 or less); \"last / first\" is the"
	echo "growth of the per-clone cost over the run, 1.00 for a cost that does"
	echo "not depend on how many volumes exist. Metadata per clone is the"
	echo "engine's metadata growth divided by the clones; engine memory is what"
	echo "the engine holds after the burst, per volume. raw has no clones and is"
	echo "left out."
	echo
	echo "## Environment"
	echo
	echo '```'
	echo "snapbench $("$bin" report --format csv "$out/thin" | awk -F, 'NR == 2 {print $5}') (the result files)"
	ci/machine.sh
	echo '```'
	echo
	echo "## Clones one at a time"
	echo
	echo "Each \`Clone\` call is its own commit."
	echo
	clonetable "$out/thin" scale-clones-single
	clonetable "$out/copies" copies-clones-single | tail -n +3
	echo
	echo "## Clones in one burst"
	echo
	echo "One \`CloneMany\` call makes all N clones and commits once."
	echo
	clonetable "$out/thin" scale-clones-batch
	clonetable "$out/copies" copies-clones-batch | tail -n +3
	echo
	echo "## Volume size"
	echo
	echo "Thin templates of 1 GiB to 1 TiB with 256 KiB written: the time to"
	echo "create one, to snapshot it, to clone it (a burst of 100) and to delete"
	echo "a clone. An engine that allocates its volumes thick (cow's base, full,"
	echo "mirror) pays for the size at create; the others should not."
	echo
	sizetable "$out/thin"
	echo
	echo "cow allocates its base thick and zeroes it at create (BLKZEROOUT on a"
	echo "block device; on a file FALLOC_FL_ZERO_RANGE in builds before 36b588c, a"
	echo "hole punch on a sparse file since), so its create time is the device's"
	echo "zeroing time, which on a file depends on what the file held before"
	echo "(here, the clone sweeps' deltas); its 1 TiB base and 100"
	echo "deltas of 1% do not fit the 2 TiB device. The burst of 100 clones is"
	echo "timed as one block, so its time per clone includes the burst's commit."
	echo
	echo "## Reading the tables"
	echo
	echo "- A per-clone cost that does not grow with the number of volumes keeps"
	echo "  \"last / first\" near 1 (the target is at most 1.5). One trial per point:"
	echo "  on a shared machine a single block of 1,000 can move by tens of percent."
	echo "- A commit writes the table records that changed (full and mirror: a"
	echo "  paged table; cow: its volume-table pages; row: B-tree nodes; linked:"
	echo "  the changed catalog buckets), plus, for linked, its whole catalog root,"
	echo "  one reference per 128 volumes: the one part that grows with the number"
	echo "  of volumes. CloneMany commits once for the whole burst."
	echo "- Metadata per clone is the growth of the engine's metadata space over"
	echo "  the clones divided by their number; full and mirror give every clone"
	echo "  a written-chunk bitmap area of at least one chunk (64 KiB)."
	echo
	echo "## Figures"
	echo
	echo "\`snapbench plot --all docs/scale-run\` draws these and every other chart of the two runs."
	echo
	figure scale-clones-single-clones100000-clones-series-clone_us_per_clone "time per clone over 100,000 one-at-a-time clones, per block of 1,000"
	figure scale-clones-batch-clones100000-clones-series-clone_us_per_clone "time per clone over a burst of 100,000, per block of 1,000"
	figure copies-clones-single-clones10000-clones-series-clone_us_per_clone "full and mirror: time per clone over 10,000 one-at-a-time clones of 1 MiB, per block of 1,000"
	figure scale-clones-single-sweep-clones-clones-last_over_first_block "last block over first block against the clone count, one at a time"
	figure scale-clones-batch-sweep-clones-clones-last_over_first_block "last block over first block against the clone count, one burst"
	figure scale-clones-single-sweep-clones-clones-metadata_per_clone_bytes "metadata bytes per clone against the clone count"
	figure scale-volume-size-sweep-volume_size-create-ops-per-s "creates per second against the volume size"
	figure scale-volume-size-sweep-volume_size-clones-first_block_clone_us "time per clone against the volume size"
} > docs/scale.md
echo "publish-scale: wrote docs/scale.md, $plots/ and the result files in $out"
