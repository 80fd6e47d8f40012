#!/bin/sh
# efm fence script example: STONITH for the failed primary.
#
#   script.fence=/usr/local/bin/efm-fence.sh %p %f
#
# Runs on the standby about to be promoted, before it promotes. %p (new
# primary) and %f (failed primary, "" when there is none) arrive as $1 and $2;
# the same values are in EFM_NEW_PRIMARY and EFM_OLD_PRIMARY.
#
# A NON-ZERO EXIT ABORTS THE PROMOTION. This script therefore fails closed:
# until you choose a fencing method it refuses, and no failover happens. That
# is the safe default: a promotion that cannot make sure the old primary is
# gone risks two primaries. Choose one of:
#
#   FENCE_METHOD=ssh   ssh to the old primary and stop PostgreSQL hard
#                      (FENCE_SSH_USER, FENCE_SSH_COMMAND)
#   FENCE_METHOD=ipmi  power the old primary off through its BMC
#                      (FENCE_IPMI_HOST_<addr with dots as _>, FENCE_IPMI_USER,
#                      password in FENCE_IPMI_PASSFILE)
#   FENCE_METHOD=none  you fence by other means (watchdog, cloud API, sync
#                      replication); always succeed
#
# Settings come from the environment or from /etc/efm/hooks.conf (sourced if
# readable; keep it root-owned). FENCE_DRY_RUN=1 prints the command and
# succeeds without running it, for testing the wiring.
set -eu

[ -r "${HOOKS_CONF:-/etc/efm/hooks.conf}" ] && . "${HOOKS_CONF:-/etc/efm/hooks.conf}"

new_primary=${1:-${EFM_NEW_PRIMARY:-}}
old_primary=${2:-${EFM_OLD_PRIMARY:-}}
method=${FENCE_METHOD:-}
timeout_s=${FENCE_TIMEOUT:-20}

say() { printf 'efm-fence: %s\n' "$*"; command -v logger >/dev/null 2>&1 && logger -t efm-fence -- "$*" || true; }

# Nothing to fence: manual promotion with no primary left in the cluster.
if [ -z "$old_primary" ]; then
	say "no failed primary given; nothing to fence before promoting $new_primary"
	exit 0
fi

# The address goes to ssh/ipmitool: refuse anything that is not a plain host
# name or address, so it can never be read as an option.
case $old_primary in
-* | *[!0-9A-Za-z.:_-]*)
	say "refusing to fence suspicious address '$old_primary'"
	exit 2
	;;
esac

run() {
	if [ "${FENCE_DRY_RUN:-0}" = 1 ]; then
		say "dry run: $*"
		return 0
	fi
	# timeout(1) so a hung ssh or BMC cannot hold the promotion; the agent
	# also kills us at its own deadline.
	timeout "$timeout_s" "$@"
}

case $method in
ssh)
	say "fencing $old_primary over ssh before promoting $new_primary"
	run ssh -o BatchMode=yes -o ConnectTimeout=5 \
		"${FENCE_SSH_USER:-postgres}@$old_primary" \
		"${FENCE_SSH_COMMAND:-pg_ctl stop -m immediate -D /var/lib/postgresql/15/main}"
	;;
ipmi)
	var=FENCE_IPMI_HOST_$(printf '%s' "$old_primary" | tr '.:-' '___')
	eval "bmc=\${$var:-}"
	if [ -z "$bmc" ]; then
		say "no BMC configured for $old_primary (set $var)"
		exit 3
	fi
	say "powering off $old_primary through BMC $bmc"
	run ipmitool -I lanplus -H "$bmc" -U "${FENCE_IPMI_USER:-admin}" \
		-f "${FENCE_IPMI_PASSFILE:-/etc/efm/ipmi.pass}" chassis power off
	;;
none)
	say "FENCE_METHOD=none: assuming $old_primary is fenced by other means"
	;;
*)
	say "FENCE_METHOD is not set (ssh, ipmi or none): refusing, promotion of $new_primary aborted"
	exit 1
	;;
esac
