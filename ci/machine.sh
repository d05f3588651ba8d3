#!/usr/bin/env bash
# ci/machine.sh: the machine lines of a published page's Environment block
# (kernel, CPU and cores, memory, date), for ci/publish.sh and
# ci/publish-scale.sh.
set -euo pipefail
echo "kernel: $(uname -sr)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
echo "date: $(date -u +%Y-%m-%d)"
