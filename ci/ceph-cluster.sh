#!/bin/sh
# ceph-cluster.sh: a throwaway single-node Ceph cluster for snapbench's rbd
# engine: 1 mon, 1 mgr, 1 BlueStore OSD on a sparse file, on 127.0.0.1
# only, without authentication, pool size 1. Everything lives in DIR; no
# systemd, no containers. Needs root and Debian's ceph-mon ceph-mgr
# ceph-osd ceph-common.
#
#   ci/ceph-cluster.sh start DIR [POOL]  start it (about 10 s), create POOL
#                                        (default snapbench) and print the
#                                        conf path
#   ci/ceph-cluster.sh stop DIR          stop the daemons (bounded wait),
#                                        then SIGKILL what is left; DIR is
#                                        kept (rm -rf it yourself)
#   ci/ceph-cluster.sh env DIR           print SNAPBENCH_CEPH_CONF=... and
#                                        SNAPBENCH_CEPH_POOL=...
#
# Stop clients (snapbench, rbd) before the daemons. OSD_SIZE (default 4G)
# sizes the sparse OSD file. Every wait is bounded; start fails with the
# daemon's log tail when a daemon does not come up.
set -eu

cmd=${1:-}
dir=${2:-}
pool=${3:-snapbench}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|env DIR [POOL]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf=$dir/ceph.conf

die() { echo "ceph-cluster: $*" >&2; exit 1; }

# wait_for SECONDS WHAT CMD...: retry CMD once a second.
wait_for() {
	n=$1; what=$2; shift 2
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt "$n" ] || { tail -n 20 "$dir"/log/*.log >&2 2>/dev/null; die "timed out after ${n}s waiting for $what"; }
		sleep 1
	done
}

ceph_() { timeout 20 ceph --conf "$conf" "$@"; }

start() {
	for t in ceph-mon ceph-mgr ceph-osd ceph ceph-authtool monmaptool; do
		command -v $t >/dev/null || die "$t not found: apt-get install ceph-mon ceph-mgr ceph-osd ceph-common"
	done
	[ ! -e "$dir/run/mon.pid" ] || die "$dir already holds a cluster (stop it first)"
	mkdir -p "$dir/mon" "$dir/osd" "$dir/mgr" "$dir/run" "$dir/log"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	# The clients' admin socket is left at its default (a path under
	# run dir, per process): never /dev/null.
	cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = 127.0.0.1:3300
mon initial members = a
public network = 127.0.0.1/32
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${OSD_SIZE:-4G}
bluestore fsck on mkfs = false
osd memory target = 939524096
run dir = $dir/run
log file = $dir/log/\$name.log
[client]
log file = $dir/log/client.log
[mon.a]
mon data = $dir/mon
mon addr = 127.0.0.1:3300
[osd.0]
osd data = $dir/osd
[mgr.x]
mgr data = $dir/mgr
EOF
	monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:3300]" "$dir/monmap" >/dev/null
	ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap"
	ceph-mon --conf "$conf" -i a --pid-file "$dir/run/mon.pid"
	wait_for 30 "the monitor" ceph_ mon stat
	ceph-mgr --conf "$conf" -i x --pid-file "$dir/run/mgr.pid"
	uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph_ osd new "$uuid" 0 >/dev/null
	ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 || { tail -n 20 "$dir/log/osd.0.log" >&2; die "ceph-osd --mkfs failed"; }
	ceph-osd --conf "$conf" -i 0 --pid-file "$dir/run/osd.pid"
	wait_for 60 "osd.0 up" sh -c "ceph --conf '$conf' osd dump 2>/dev/null | grep -q '^osd.0 up'"
	# clone format 2 (no protected snapshots) needs mimic clients or newer
	ceph_ osd set-require-min-compat-client mimic >/dev/null 2>&1
	ceph_ osd pool create "$pool" 8 >/dev/null 2>&1 || true
	ceph_ osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
	ceph_ osd pool application enable "$pool" rbd >/dev/null 2>&1 || true
	wait_for 60 "the placement groups of pool $pool to be active" sh -c "ceph --conf '$conf' pg stat | grep -q 'active+clean' && ! ceph --conf '$conf' pg stat | grep -Eq 'creating|peering|unknown|inactive'"
	echo "$pool" >"$dir/pool"
	echo "$conf"
}

stop() {
	for d in osd mgr mon; do
		f=$dir/run/$d.pid
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	for d in osd mgr mon; do
		f=$dir/run/$d.pid
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

case $cmd in
start) start ;;
stop) stop ;;
env)
	[ -f "$conf" ] || die "no cluster in $dir"
	echo "SNAPBENCH_CEPH_CONF=$conf"
	echo "SNAPBENCH_CEPH_POOL=$(cat "$dir/pool" 2>/dev/null || echo snapbench)"
	;;
*) die "unknown command $cmd (start, stop, env)" ;;
esac
