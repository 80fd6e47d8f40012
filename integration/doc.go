// Package integration holds OpenEFM's multi-host tests: each host is a
// network namespace on a private bridge, with real PostgreSQL 15 servers and
// real efm agents, and faults are real (SIGKILL of a postmaster, a cut link,
// a frozen agent). The world they run in is built by package harness.
//
// The tests need root, PostgreSQL 15 server binaries and iproute2
// (integration/setup-host.sh installs them on Debian); they skip with the
// reason otherwise, and always when EFM_SKIP_INTEGRATION=1.
package integration
