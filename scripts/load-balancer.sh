#!/bin/sh
# efm load balancer script example (HAProxy runtime API).
#
#   script.load.balancer.attach=/usr/local/bin/efm-lb.sh attach %h %t
#   script.load.balancer.detach=/usr/local/bin/efm-lb.sh detach %h %t
#
# %h is the node being attached or detached, %t its role: p (primary) or s
# (standby); also in EFM_TARGET_NODE and EFM_TARGET_TYPE. Configure it on
# every node, witness included, so whoever sees a node die can detach it.
# A failure is reported (SEVERE "Load balancer ... script error") and
# changes nothing else.
#
# The HAProxy side: one backend for the primary and one for the standbys,
# each listing every database node as a server named after its address with
# dots as underscores (10.0.0.11 -> node_10_0_0_11). Attach sets the server
# "ready" in the backend of its role (and "maint" in the other one), detach
# sets it "maint" in both.
#
# Until HAPROXY_SOCKET is set it only logs what it would do (dry run). Needs
# socat. Settings come from the environment or /etc/efm/hooks.conf.
set -eu

[ -r "${HOOKS_CONF:-/etc/efm/hooks.conf}" ] && . "${HOOKS_CONF:-/etc/efm/hooks.conf}"

action=${1:-}
node=${2:-${EFM_TARGET_NODE:-}}
role=${3:-${EFM_TARGET_TYPE:-}}
primary_backend=${HAPROXY_PRIMARY_BACKEND:-pg_primary}
standby_backend=${HAPROXY_STANDBY_BACKEND:-pg_standbys}

say() { printf 'efm-lb: %s\n' "$*"; command -v logger >/dev/null 2>&1 && logger -t efm-lb -- "$*" || true; }

case $node in
'' | -* | *[!0-9A-Za-z.:_-]*)
	say "bad node address '$node'"
	exit 2
	;;
esac
server=node_$(printf '%s' "$node" | tr '.:-' '___')

haproxy() {
	if [ -z "${HAPROXY_SOCKET:-}" ]; then
		say "dry run (HAPROXY_SOCKET unset): $*"
		return 0
	fi
	printf '%s\n' "$*" | timeout 5 socat stdio "unix-connect:$HAPROXY_SOCKET"
}

case $action/$role in
attach/p)
	haproxy "set server $primary_backend/$server state ready"
	haproxy "set server $standby_backend/$server state maint"
	;;
attach/s)
	haproxy "set server $standby_backend/$server state ready"
	haproxy "set server $primary_backend/$server state maint"
	;;
detach/*)
	haproxy "set server $primary_backend/$server state maint"
	haproxy "set server $standby_backend/$server state maint"
	;;
*)
	say "usage: $0 attach|detach <node> p|s (got '$action' '$node' '$role')"
	exit 2
	;;
esac
say "$action $node ($role) done"
