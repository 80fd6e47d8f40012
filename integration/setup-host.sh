#!/bin/sh
# Installs, from Debian's packages, what OpenEFM's integration tests and the
# local demo need, and only what is missing: PostgreSQL 15 server binaries,
# iproute2 (ip, tc), ping and arping (EFM's ping.server.command and VIP
# checks), iptables, procps, HAProxy (the load balancer in front of the
# health endpoints). Runs `apt-get update` only when something must be
# installed. Idempotent; meant for root on Debian bookworm (CI, a fresh
# machine). Prints what it installed. Touches no other network.
set -eu

PGBIN=/usr/lib/postgresql/15/bin

# package:path-that-proves-it-is-installed
wanted="
postgresql-15:$PGBIN/postgres
postgresql-15:$PGBIN/pg_rewind
postgresql-client-15:$PGBIN/psql
iproute2:/usr/sbin/ip
iproute2:/usr/sbin/tc
iputils-ping:/usr/bin/ping
iputils-arping:/usr/bin/arping
iptables:/usr/sbin/iptables
procps:/usr/bin/pgrep
util-linux:/usr/sbin/runuser
haproxy:/usr/sbin/haproxy
pgpool2:/usr/sbin/pgpool
pgpool2:/usr/sbin/pcp_node_info
pgpool2:/usr/sbin/pcp_promote_node
"

missing=""
for item in $wanted; do
	pkg=${item%%:*}
	path=${item#*:}
	if [ ! -x "$path" ]; then
		case " $missing " in
		*" $pkg "*) ;;
		*) missing="$missing $pkg" ;;
		esac
	fi
done

if [ -z "$missing" ]; then
	echo "setup-host: everything is installed already"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup-host: missing:$missing; run me as root to install them" >&2
		exit 1
	fi
	echo "setup-host: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# postgresql-common may create (and start) a default cluster in the
	# root namespace; harmless: the tests' servers live in namespaces of
	# their own and never use it.
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	apt-get install -y -q --no-install-recommends $missing
	echo "setup-host: installed:$missing"
fi

# Checks that do not install anything, printed so a CI log says what it has.
if id postgres >/dev/null 2>&1; then
	echo "setup-host: OS user postgres: uid $(id -u postgres)"
else
	echo "setup-host: OS user postgres is missing (postgresql-15 should create it)" >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
	ns="efmi-setup-$$"
	if ip netns add "$ns" 2>/dev/null; then
		if tc -n "$ns" qdisc add dev lo root netem delay 1ms 2>/dev/null; then
			echo "setup-host: tc netem available (delay/loss faults will run)"
		else
			echo "setup-host: tc netem unavailable in this kernel (delay/loss faults will be skipped)"
		fi
		ip netns del "$ns"
	else
		echo "setup-host: cannot create network namespaces here (integration tests will skip)" >&2
	fi
fi
