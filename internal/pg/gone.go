package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Refused reports whether err is a connection that nobody accepted: refused
// on TCP, or no socket file for a unix socket. A timeout, an authentication
// failure or a server that answers "shutting down" / "starting up" is not:
// something is there.
func Refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (errors.Is(op, syscall.ECONNREFUSED) || errors.Is(op, syscall.ENOENT))
}

// PostmasterGone reports whether no postmaster of this data directory runs:
// postmaster.pid is absent, or the pid it names is no process (or a zombie
// waiting for its parent), or a process that is not a postgres server of
// this data directory (the pid was reused after a crash). why says which.
// Anything it cannot be sure of (no data directory configured or none
// there, a file it cannot read, a pid file being written, a postgres
// process whose directory it may not look at) is false, with why saying
// what was in doubt: only certainty counts as gone.
func (d *DB) PostmasterGone(ctx context.Context) (gone bool, why string) {
	if d.cfg.DataDir == "" {
		return false, "db.data.dir is not set"
	}
	// A data directory that is not here (the agent runs elsewhere, or the
	// mount is missing) says nothing about the server.
	if ok, err := d.ownerFileExists(ctx, d.dataPath("PG_VERSION")); err != nil || !ok {
		return false, fmt.Sprintf("no PostgreSQL data directory at %s (PG_VERSION: exists %v, err %v)", d.cfg.DataDir, ok, err)
	}
	b, err := d.readOwnerFile(ctx, d.dataPath("postmaster.pid"))
	if err != nil {
		return false, err.Error()
	}
	if b == nil {
		return true, "no postmaster.pid in " + d.cfg.DataDir
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		// A postmaster that is writing the file right now.
		return false, fmt.Sprintf("postmaster.pid in %s: first line %q is not a pid", d.cfg.DataDir, first)
	}
	return postmasterGone(pid, d.cfg.DataDir)
}

// postmasterGone is PostmasterGone for the pid found in dataDir's
// postmaster.pid.
func postmasterGone(pid int, dataDir string) (bool, string) {
	if processGone(pid) {
		return true, fmt.Sprintf("postmaster %d from %s/postmaster.pid is not running", pid, dataDir)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		if processGone(pid) {
			return true, fmt.Sprintf("postmaster %d from %s/postmaster.pid is not running", pid, dataDir)
		}
		return false, fmt.Sprintf("postmaster %d: %v", pid, err)
	}
	if c := strings.TrimSpace(string(comm)); c != "postgres" && c != "postmaster" {
		return true, fmt.Sprintf("postmaster.pid in %s names pid %d, which is %q, not postgres", dataDir, pid, c)
	}
	// A postgres process: the postmaster chdirs into its data directory,
	// so another cluster's server has another working directory.
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return false, fmt.Sprintf("postmaster %d is a postgres process whose directory cannot be read: %v", pid, err)
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return false, fmt.Sprintf("resolving %s: %v", dataDir, err)
	}
	if filepath.Clean(cwd) != filepath.Clean(want) {
		return true, fmt.Sprintf("postmaster.pid in %s names pid %d, a postgres process of %s", dataDir, pid, cwd)
	}
	return false, fmt.Sprintf("postmaster %d of %s is running", pid, dataDir)
}
