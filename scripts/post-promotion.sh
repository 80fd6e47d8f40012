#!/bin/sh
# efm post-promotion script example.
#
#   script.post.promotion=/usr/local/bin/efm-post-promotion.sh %p %f
#
# Runs on the new primary once it has left recovery (and after the VIP moved,
# if there is one). The exit status is only reported in the notification:
# nothing is undone when this fails, so keep it idempotent and quick.
#
# By default it only logs. Set PGBOUNCER_HOSTS to a space-separated list of
# host:port of PgBouncer admin consoles to make each one reconnect its
# server connections to the new primary (PgBouncer's RECONNECT; point
# PgBouncer at the VIP or a DNS name you update elsewhere). Settings come from
# the environment or /etc/efm/hooks.conf.
set -eu

[ -r "${HOOKS_CONF:-/etc/efm/hooks.conf}" ] && . "${HOOKS_CONF:-/etc/efm/hooks.conf}"

new_primary=${1:-${EFM_NEW_PRIMARY:-}}
old_primary=${2:-${EFM_OLD_PRIMARY:-}}

say() { printf 'efm-post-promotion: %s\n' "$*"; command -v logger >/dev/null 2>&1 && logger -t efm-post-promotion -- "$*" || true; }

say "cluster ${EFM_CLUSTER:-?}: $new_primary promoted (old primary: ${old_primary:-none})"

status=0
for hp in ${PGBOUNCER_HOSTS:-}; do
	host=${hp%:*}
	port=${hp##*:}
	say "asking PgBouncer $host:$port to reconnect"
	# -w: never prompt for a password (use ~/.pgpass); timeout bounds a dead host.
	if ! timeout 10 psql -w -h "$host" -p "$port" -U "${PGBOUNCER_USER:-pgbouncer}" \
		-d pgbouncer -c RECONNECT; then
		say "PgBouncer $host:$port did not reconnect"
		status=1
	fi
done
exit $status
