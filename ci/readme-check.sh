#!/usr/bin/env bash
# ci/readme-check.sh: run every command of README.md and every example of
# `snapbench VERB --help`, so neither can drift from the product (make
# readme-check; .ci/run runs it as root).
#
# Every line of every ```sh block of README.md is a command (trailing
# "# comments" removed), and so is every line of the "examples:" (or
# "Example:") section of each verb's --help (a line ending in "\" continues
# on the next). The table below says how each one runs here:
#
#   run CMD   run CMD in a scratch directory, in README order, where
#             `snapbench` and `bin/snapbench` are the freshly built binary;
#             CMD is the README line itself, or the line with placeholders
#             (runs/..., /dev/loop0, /dev/nvme1n1) replaced by what this
#             script made, and --repeat 1 where a command runs a whole suite
#             (trials repeat the same code; the README's scale is kept).
#   skip WHY  not run here, and why (CI runs it elsewhere, or it needs
#             hardware or hours).
#
# A README command missing from the table, or a table entry no longer in
# the README, fails the check: a new README command needs a decision here.
# A ```yaml block whose first line is "# NAME.yaml" is written to NAME.yaml
# in the scratch directory first, so the README's example spec runs too.
#
# ci/readme-check.sh --list prints each command and how it would run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
readme=$root/README.md
sb=$root/bin/snapbench
[ -x "$sb" ] || { echo "readme-check: $sb missing: run make build first" >&2; exit 1; }

work=$(mktemp -d /var/tmp/snapbench-readme-XXXXXX)
loops=()
serve_pid=
cleanup() {
	[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$work" /tmp/sb.sock
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/path"
ln -s "$sb" "$work/bin/snapbench"
ln -s "$sb" "$work/path/snapbench"
export PATH="$work/path:$PATH"

# newloop VAR SIZE: sets VAR to a new direct-IO loop device over a sparse
# file (detached on exit).
newloop() {
	local f
	f=$(mktemp "$work/loop-XXXXXX.img")
	truncate -s "$2" "$f"
	local l
	l=$(losetup -f --show --direct-io=on "$f")
	loops+=("$l")
	printf -v "$1" '%s' "$l"
}

listing=
[ "${1:-}" = "--list" ] && listing=1
root_only=
if [ "$(id -u)" -ne 0 ]; then
	root_only="skip needs root (loop devices, mounts); CI runs as root"
fi
loop_a=LOOP_A loop_b=LOOP_B loop_c=LOOP_C loop_d=LOOP_D loop_e=LOOP_E
if [ -z "$root_only" ] && [ -z "$listing" ]; then
	newloop loop_a 4G
	newloop loop_b 4G
	newloop loop_c 4G
	newloop loop_d 6G # the fanout spec wants 5 GiB
	newloop loop_e 4G # the calibrate example of --help
fi
runs=$work/runs/default

declare -A how=(
	['make build && bin/snapbench run']="run bin/snapbench run --repeat 1 --out $runs"
	['make test']='skip .ci/run runs make test itself'
	['sudo bin/snapbench run --device /dev/loop0 --engines row,linked,btrfs,xfs-reflink,qcow2']="${root_only:-run bin/snapbench run --device $loop_a --engines row,linked,btrfs,xfs-reflink,qcow2 --repeat 1}"
	['snapbench run']="run snapbench run --repeat 1 --out $work/runs/second"
	['snapbench run --engines cow,row --scenario overwrite --set fanout=0,1,10,100,1000']='run snapbench run --engines cow,row --scenario overwrite --set fanout=0,1,10,100,1000 --repeat 1'
	['snapbench run --spec fanout']='run snapbench run --spec fanout --repeat 1'
	['snapbench run --spec my-suite.yaml --out results/ssd']='run snapbench run --spec my-suite.yaml --out results/ssd --repeat 1'
	['snapbench run --engines row,linked,btrfs,xfs-reflink,qcow2']="${root_only:-run snapbench run --engines row,linked,btrfs,xfs-reflink,qcow2 --repeat 1}"
	['snapbench run --engines linked,linked/row,linked/cow']='run snapbench run --engines linked,linked/row,linked/cow --repeat 1'
	['snapbench scenarios']='run snapbench scenarios'
	['snapbench scenarios clonebush']='run snapbench scenarios clonebush'
	['snapbench engines']='run snapbench engines'
	['snapbench report --format html runs/2026-11-24T10-00-00 > report.html']="run snapbench report --format html $runs > report.html"
	['snapbench report --format markdown runs/... > RESULTS.md']="run snapbench report --format markdown $runs > RESULTS.md"
	['snapbench report --format csv runs/...']="run snapbench report --format csv $runs"
	['snapbench plot --out charts/ runs/...']="run snapbench plot --out charts/ $runs"
	['snapbench compare old-run/ new-run/ --threshold 10%']="run snapbench compare $runs $work/runs/second --threshold 10% || [ \$? -eq 1 ]"
	['snapbench compare --bench runs/... > new.txt']="run snapbench compare --bench $runs > new.txt"
	['make publish']='skip rewrites docs/ from the default suite at 3 trials; ci/publish.sh is the run, report and plot commands above'
	['make publish-scale']='skip rewrites docs/scale.md from two scale runs (about 10 minutes on a 2 TiB sparse file); ci/publish-scale.sh'
	['bin/snapbench devices']='run bin/snapbench devices'
	['sudo bin/snapbench run --device /dev/nvme1n1 --precondition --discard']="${root_only:-run bin/snapbench run --device $loop_b --precondition --discard --repeat 1}"
	['bin/snapbench calibrate --device /var/tmp/cal.img --size 2G']="run bin/snapbench calibrate --device $work/cal.img --size 2G --repeat 1 --runtime 1s"
	['sudo bin/snapbench calibrate --device /dev/loop7 --repeat 3 --runtime 5s']="${root_only:-run bin/snapbench calibrate --device $loop_c --repeat 1 --runtime 1s}"
	['bin/snapbench calibrate --device /var/tmp/cal.img --only qd32']="run bin/snapbench calibrate --device $work/cal.img --only qd32 --repeat 1 --runtime 1s"
	['snapbench format --device sb.img --size 4G --engine row']='run snapbench format --device sb.img --size 4G --engine row'
	['snapbench volume create --device sb.img --name base --size 1G']='run snapbench volume create --device sb.img --name base --size 1G'
	['snapbench volume snapshot --device sb.img --source base --name base@1']='run snapbench volume snapshot --device sb.img --source base --name base@1'
	['snapbench volume clone --device sb.img --source base@1 --name vm1']='run snapbench volume clone --device sb.img --source base@1 --name vm1'
	['snapbench volume list --device sb.img']='run snapbench volume list --device sb.img'
	['snapbench serve --device sb.img --volume vm1 --socket /tmp/sb.sock &']='serve snapbench serve --device sb.img --volume vm1 --socket /tmp/sb.sock'
	["fio --name=t --ioengine=nbd --uri='nbd+unix:///vm1?socket=/tmp/sb.sock' --rw=randwrite --bs=4k --size=256M"]="run fio --name=t --ioengine=nbd --uri='nbd+unix:///vm1?socket=/tmp/sb.sock' --rw=randwrite --bs=4k --size=256M"
	['kill %1']='stop-serve'
	['snapbench check --device sb.img']='run snapbench check --device sb.img'
	['snapbench check --device sb.img --repair']='run snapbench check --device sb.img --repair'
	['export SNAPBENCH_CEPH_CONF=/etc/ceph/ceph.conf SNAPBENCH_CEPH_POOL=rbd']='skip needs a Ceph cluster: the Ceph section of .ci/run starts one and runs the rbd engine'
	['bin/snapbench run --engines row,linked,rbd --opt rbd.purge=true']='skip needs a Ceph cluster: the Ceph section of .ci/run runs row, linked and rbd with ci/rbd.yaml'
	['bin/snapbench run --engines rbd --opt rbd.clone-format=1 --opt rbd.features=layering+exclusive-lock+object-map+fast-diff --opt rbd.purge=true']='skip needs a Ceph cluster: the rbd tests of .ci/run cover clone format 1 and the features'
	['sudo apt-get install ceph-mon ceph-mgr ceph-osd ceph-common']='skip the Ceph section of .ci/run installs the same packages'
	['sudo ci/ceph-cluster.sh start /var/tmp/ceph']='skip the Ceph section of .ci/run runs ci/ceph-cluster.sh start'
	['eval "$(sudo ci/ceph-cluster.sh env /var/tmp/ceph)"; export SNAPBENCH_CEPH_CONF SNAPBENCH_CEPH_POOL']='skip the Ceph section of .ci/run sets the same variables'
	['sudo -E bin/snapbench run --engines row,linked,rbd --spec ci/rbd.yaml --size 512m --opt rbd.purge=true']='skip the Ceph section of .ci/run runs this command'
	['sudo ci/ceph-cluster.sh stop /var/tmp/ceph && sudo rm -rf /var/tmp/ceph']='skip the Ceph section of .ci/run stops its cluster the same way'
	['make build']='skip .ci/run builds through make regress'
	['make lint']='skip .ci/run runs make lint'
	['make fuzz']='skip .ci/run runs make fuzz FUZZTIME=2s'
	['make cover']='skip the same tests as make test, with coverage'
	['make long']='skip hours: the conformance and crash suites at 100x budget'
	['make bench']='skip Go benchmarks: timings, nothing to pass or fail'
	['make regress']='skip .ci/run runs make regress'
	['make baseline']='skip rewrites ci/baseline'
	['make ci']='skip lint + test + regress, each run by .ci/run'
	['make readme-check']='skip this script'
	['snapbench run --scenario overwrite --iodepth 8 --bs 4k --runtime 30s']='run snapbench run --scenario overwrite --iodepth 8 --bs 4k --runtime 2s --repeat 1'
	['snapbench run --spec fanout --set qd=4 --set overwrite-fanout.fanout=0,10']='run snapbench run --spec fanout --set qd=4 --set overwrite-fanout.fanout=0,10 --repeat 1'
	['snapbench --version']='run snapbench --version'
	# --help examples
	['snapbench report --format markdown results/ > RESULTS.md']="run snapbench report --format markdown $runs > RESULTS.md"
	['snapbench report --format html --title "NVMe, 6 engines" results/ > report.html']="run snapbench report --format html --title 'NVMe, 6 engines' $runs > report.html"
	['snapbench run --engines raw,row --scenario overwrite --set fanout=0,10,100']='run snapbench run --engines raw,row --scenario overwrite --set fanout=0,10,100 --repeat 1'
	['snapbench run --engines linked,linked/row,linked/cow --scenario clonebush']='run snapbench run --engines linked,linked/row,linked/cow --scenario clonebush --repeat 1'
	['snapbench run --device /dev/nvme1n1 --precondition --spec fanout']="${root_only:-run snapbench run --device $loop_d --precondition --spec fanout --repeat 1}"
	['snapbench format --device /var/tmp/sb.img --size 4G --engine full --chunk 64K']="run snapbench format --device $work/sb-full.img --size 4G --engine full --chunk 64K"
	['snapbench serve --device sb.img --volume vm1 --socket /tmp/sb.sock & fio --name=t --ioengine=nbd --uri='"'"'nbd+unix:///vm1?socket=/tmp/sb.sock'"'"' --rw=randwrite --bs=4k --iodepth=8 --size=256M --verify=crc32c']='serve+fio snapbench serve --device sb.img --volume vm1 --socket /tmp/sb.sock ;; fio --name=t --ioengine=nbd --uri='"'"'nbd+unix:///vm1?socket=/tmp/sb.sock'"'"' --rw=randwrite --bs=4k --iodepth=8 --size=256M --verify=crc32c'
	['snapbench calibrate --device /var/tmp/cal.img --size 2G']="run snapbench calibrate --device $work/cal2.img --size 2G --repeat 1 --runtime 1s"
	['snapbench calibrate --device /dev/loop7 --runtime 5s --repeat 3']="${root_only:-run snapbench calibrate --device $loop_e --repeat 1 --runtime 1s}"
	['snapbench calibrate --device /var/tmp/cal.img --only qd32 --repeat 5']="run snapbench calibrate --device $work/cal2.img --only qd32 --repeat 1 --runtime 1s"
)

# README commands, in order: the lines of ```sh blocks, comments removed.
mapfile -t commands < <(awk '
	/^```sh$/ { inb = 1; next }
	/^```/ { inb = 0; next }
	inb { sub(/[ \t]+# .*$/, ""); sub(/[ \t]+$/, ""); if ($0 != "") print }
' "$readme")

# The examples of every verb's --help, after the README's (a "\" at the
# end of a line joins the next; a serve example's "&" line is one command
# with the fio line that follows it).
mapfile -t verbs < <("$sb" --help 2>&1 | awk '/^verbs:/ { f = 1; next } f && /^  [a-z]/ { print $1 } f && /^$/ { f = 0 }')
for v in "${verbs[@]}"; do
	while IFS= read -r line; do
		commands+=("$line")
	done < <("$sb" "$v" --help 2>&1 | awk '
		/^(examples?|Example):?$/ { f = 1; next }
		f && /^$/ { f = 0 }
		f {
			sub(/^[ \t]+/, ""); sub(/[ \t]+# .*$/, "")
			if (sub(/[ \t]*\\$/, "")) { acc = acc $0 " "; next }
			line = acc $0; acc = ""
			if (line ~ /&$/) { pending = line " "; next }
			if (pending != "") { line = pending line; pending = "" }
			gsub(/[ \t]+/, " ", line)
			print line
		}')
done

# Example spec files: ```yaml blocks whose first line is "# NAME.yaml".
awk -v dir="$work" '
	/^```yaml$/ { inb = 1; first = 1; next }
	/^```/ { inb = 0; out = ""; next }
	inb && first { first = 0; if ($0 ~ /^# [A-Za-z0-9_.-]+\.yaml$/) out = dir "/" substr($0, 3) }
	inb && out != "" { print > out }
' "$readme"

declare -A seen=()
missing=0
for c in "${commands[@]}"; do
	seen[$c]=1
	if [ -z "${how[$c]+x}" ]; then
		echo "readme-check: README command not covered by ci/readme-check.sh: $c" >&2
		missing=1
	fi
done
for k in "${!how[@]}"; do
	if [ -z "${seen[$k]+x}" ]; then
		echo "readme-check: ci/readme-check.sh covers a command the README no longer has: $k" >&2
		missing=1
	fi
done
[ "$missing" -eq 0 ] || exit 1
if [ -n "$listing" ]; then
	for c in "${commands[@]}"; do printf '%s\n    -> %s\n' "$c" "${how[$c]}"; done
	exit 0
fi

cd "$work"
ran=0 skipped=0
declare -A done_before=()
for c in "${commands[@]}"; do
	plan=${how[$c]}
	if [ -n "${done_before[$c]+x}" ]; then
		continue
	fi
	done_before[$c]=1
	case "$plan" in
	skip\ *)
		echo "readme-check: skip: $c (${plan#skip })"
		skipped=$((skipped + 1))
		;;
	run\ *)
		echo "readme-check: run: ${plan#run }"
		start=$(date +%s)
		if ! bash -o pipefail -c "${plan#run }" >"$work/out.txt" 2>&1; then
			tail -n 30 "$work/out.txt" >&2
			echo "readme-check: FAILED: $c" >&2
			exit 1
		fi
		echo "readme-check:   ok in $(($(date +%s) - start)) s"
		ran=$((ran + 1))
		;;
	serve\ *)
		echo "readme-check: background: ${plan#serve }"
		${plan#serve } >"$work/serve.txt" 2>&1 &
		serve_pid=$!
		for _ in $(seq 100); do [ -S /tmp/sb.sock ] && break; sleep 0.1; done
		[ -S /tmp/sb.sock ] || { cat "$work/serve.txt" >&2; echo "readme-check: FAILED: $c: no socket" >&2; exit 1; }
		ran=$((ran + 1))
		;;
	serve+fio\ *)
		body=${plan#serve+fio }
		srv=${body%% ;; *}
		client=${body#* ;; }
		echo "readme-check: serve, then a client, then stop serve: $srv; $client"
		rm -f /tmp/sb.sock
		$srv >"$work/serve2.txt" 2>&1 &
		pid=$!
		for _ in $(seq 100); do [ -S /tmp/sb.sock ] && break; sleep 0.1; done
		rc=0
		bash -c "$client" >"$work/out.txt" 2>&1 || rc=$?
		kill "$pid"
		src=0
		wait "$pid" || src=$?
		if [ "$rc" -ne 0 ] || [ "$src" -ne 0 ]; then
			tail -n 30 "$work/out.txt" "$work/serve2.txt" >&2
			echo "readme-check: FAILED: $c (client exit $rc, serve exit $src)" >&2
			exit 1
		fi
		ran=$((ran + 1))
		;;
	stop-serve)
		echo "readme-check: stop serve (kill %1)"
		kill "$serve_pid"
		rc=0
		wait "$serve_pid" || rc=$?
		serve_pid=
		if [ "$rc" -ne 0 ]; then
			cat "$work/serve.txt" >&2
			echo "readme-check: FAILED: serve exited $rc after SIGTERM, want 0" >&2
			exit 1
		fi
		ran=$((ran + 1))
		;;
	*)
		echo "readme-check: bad plan for $c: $plan" >&2
		exit 1
		;;
	esac
done
echo "readme-check: ${#commands[@]} README and --help commands: $ran run, $skipped skipped with a reason"
