#!/bin/sh
# efm custom monitor example: fail when the database's disk is nearly full.
#
#   script.custom.monitor=/usr/local/bin/efm-custom-monitor.sh /var/lib/postgresql/15/main
#   custom.monitor.interval=30
#   custom.monitor.timeout=10
#   custom.monitor.safe.mode=true
#
# Exit 0 = healthy; non-zero = the local database has failed (a primary fails
# over, a standby goes IDLE) unless custom.monitor.safe.mode=true, which only
# reports. Start with safe mode on: a monitor that is wrong causes failovers.
# Keep it well under custom.monitor.timeout.
set -eu

datadir=${1:-${PGDATA:-/var/lib/postgresql/15/main}}
max_used=${MONITOR_MAX_DISK_PCT:-95}

# POSIX df -P: the fifth column of the second line is "Use%".
used=$(df -P "$datadir" | awk 'NR == 2 { sub("%", "", $5); print $5 }')
if [ -z "$used" ]; then
	echo "efm-custom-monitor: cannot read disk usage of $datadir"
	exit 2
fi
if [ "$used" -ge "$max_used" ]; then
	echo "efm-custom-monitor: $datadir is ${used}% full (limit ${max_used}%)"
	exit 1
fi
