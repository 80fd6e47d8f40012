#!/bin/sh
# efm notification script example.
#
#   script.notification=/usr/local/bin/efm-notify.sh
#
# Called as `efm-notify.sh "<subject>" "<body>"` for every notification at or
# above notification.level. The subject looks like "[SEVERE] EFM Fencing
# script error"; EFM_NOTIFICATION_LEVEL holds the level alone.
#
# By default it writes the notification to syslog (user.crit for SEVERE,
# user.warning for WARNING, user.info otherwise). Set NOTIFY_WEBHOOK_URL to
# also POST it, form-encoded (subject, body, level, cluster, node), to a chat
# or paging webhook. Settings come from the environment or
# /etc/efm/hooks.conf.
set -eu

[ -r "${HOOKS_CONF:-/etc/efm/hooks.conf}" ] && . "${HOOKS_CONF:-/etc/efm/hooks.conf}"

subject=${1:-}
body=${2:-}
level=${EFM_NOTIFICATION_LEVEL:-INFO}

case $level in
SEVERE) prio=user.crit ;;
WARNING) prio=user.warning ;;
*) prio=user.info ;;
esac

# One syslog line per body line keeps the message readable in journald; with
# no syslog, stderr still lands in the agent's log.
if ! { command -v logger >/dev/null 2>&1 &&
	printf '%s\n%s\n' "$subject" "$body" | logger -t efm-notify -p "$prio" 2>/dev/null; }; then
	printf '%s\n%s\n' "$subject" "$body" >&2
fi

if [ -n "${NOTIFY_WEBHOOK_URL:-}" ]; then
	# --data-urlencode passes the texts as data, never as shell or curl syntax.
	curl -fsS -m "${NOTIFY_TIMEOUT:-10}" -o /dev/null \
		--data-urlencode "subject=$subject" \
		--data-urlencode "body=$body" \
		--data-urlencode "level=$level" \
		--data-urlencode "cluster=${EFM_CLUSTER:-}" \
		--data-urlencode "node=${EFM_NODE:-}" \
		"$NOTIFY_WEBHOOK_URL"
fi
