package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killPostmaster SIGKILLs the postmaster named in postmaster.pid and its
// process group (pg_ctl starts the postmaster in its own session, so the
// group is exactly the server), then waits until the postmaster is gone.
// A stale postmaster.pid can name an unrelated process that reused the
// pid, so the target must be a postgres process of the service owner.
func (d *DB) killPostmaster(ctx context.Context) error {
	b, err := d.readOwnerFile(ctx, d.dataPath("postmaster.pid"))
	if err != nil {
		return err
	}
	if b == nil {
		return nil // nothing running
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return fmt.Errorf("postmaster.pid in %s: first line %q is not a pid", d.cfg.DataDir, first)
	}
	if err := d.checkServerProcess(pid, "the postmaster"); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		err = syscall.Kill(-pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) { // not a group leader after all
			err = syscall.Kill(pid, syscall.SIGKILL)
		}
	} else {
		_, err = d.runOwner(ctx, nil, "kill", "-KILL", "--", "-"+strconv.Itoa(pid))
		if err != nil {
			_, err = d.runOwner(ctx, nil, "kill", "-KILL", strconv.Itoa(pid))
		}
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL postmaster %d: %w", pid, err)
	}
	err = pollUntil(ctx, d.cfg.CtlTimeout, 20*time.Millisecond, func(context.Context) (bool, error) {
		return processGone(pid), nil
	})
	if err != nil {
		return fmt.Errorf("postmaster %d still alive after SIGKILL: %w", pid, err)
	}
	d.log.Info("postmaster killed", "pid", pid)
	// A killed postmaster stays a zombie until its parent (init, or an
	// agent that is a child subreaper) reaps it, and PostgreSQL will not
	// start over a live-looking pid. Wait for pg_ctl to agree it is gone.
	err = pollUntil(ctx, d.cfg.CtlTimeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		running, err := d.Running(ctx)
		return err == nil && !running, nil
	})
	if err != nil {
		return fmt.Errorf("postmaster %d killed but not reaped (is its parent reaping children?): %w", pid, err)
	}
	return nil
}

// checkServerProcess refuses to signal pid (what, for the error) unless it
// is a postgres process owned by the service owner: a pid read from
// postmaster.pid or a statistics view may have been reused meanwhile.
func (d *DB) checkServerProcess(pid int, what string) error {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Errorf("%s (pid %d) of %s: %w", what, pid, d.cfg.DataDir, err)
	}
	if c := strings.TrimSpace(string(comm)); c != "postgres" && c != "postmaster" {
		return fmt.Errorf("%s of %s: pid %d is %q, not postgres: refusing to signal it", what, d.cfg.DataDir, pid, c)
	}
	cred, _, err := lookupCredential(d.cfg.ServiceOwner)
	if err != nil {
		return fmt.Errorf("db.service.owner %q: %w", d.cfg.ServiceOwner, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d", pid), &st); err != nil {
		return fmt.Errorf("%s (pid %d): %w", what, pid, err)
	}
	if st.Uid != cred.Uid {
		return fmt.Errorf("%s of %s: pid %d is owned by uid %d, not %s: refusing to signal it", what, d.cfg.DataDir, pid, st.Uid, d.cfg.ServiceOwner)
	}
	return nil
}

// processGone: no such process, or only a zombie left for its parent (an
// agent that is a child subreaper may hold it for a moment).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] == 'Z'
	}
	return false
}
