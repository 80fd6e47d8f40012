package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var sweepOnce sync.Once

// leftover matches names this harness gives namespaces and directories and
// captures the pid of the process that made them.
var leftover = regexp.MustCompile(`^` + namePrefix + `(\d+)-`)

// Sweep removes namespaces (killing the processes inside; network and IPC) and scratch
// directories named efmi-<pid>-... whose pid is no longer alive: what a run
// that crashed or was killed before its cleanups left behind. NewNetwork
// calls it once per process.
func Sweep(ctx context.Context, tb TB) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		tb.Logf("harness: sweep: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !deadOwner(f[0]) {
			continue
		}
		if err := deleteNamespace(ctx, f[0]); err != nil {
			tb.Logf("harness: sweep: %v", err)
		} else {
			tb.Logf("harness: sweep: removed namespace %s of a dead run", f[0])
		}
	}
	// IPC namespaces whose network namespace went first.
	ipcs, _ := os.ReadDir(ipcDir)
	for _, e := range ipcs {
		if !deadOwner(e.Name()) {
			continue
		}
		if err := deleteIPC(e.Name()); err != nil {
			tb.Logf("harness: sweep: %v", err)
		}
	}
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		if !e.IsDir() || !deadOwner(e.Name()) {
			continue
		}
		p := filepath.Join(os.TempDir(), e.Name())
		if err := os.RemoveAll(p); err != nil {
			tb.Logf("harness: sweep: removing %s: %v", p, err)
		} else {
			tb.Logf("harness: sweep: removed %s of a dead run", p)
		}
	}
}

// deadOwner reports whether name is one of ours and its creator is gone.
func deadOwner(name string) bool {
	m := leftover.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	err = unix.Kill(pid, 0)
	return errors.Is(err, unix.ESRCH)
}

// pgUser is the postgres OS account the servers run as.
type pgUser struct{ uid, gid int }

var (
	pgUserOnce sync.Once
	pgUserVal  pgUser
	pgUserErr  error
)

func lookupPostgres() (pgUser, error) {
	pgUserOnce.Do(func() {
		u, err := user.Lookup("postgres")
		if err != nil {
			pgUserErr = fmt.Errorf("OS user postgres missing (install postgresql-15: integration/setup-host.sh): %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pgUserVal = pgUser{uid: uid, gid: gid}
	})
	return pgUserVal, pgUserErr
}

func chownPostgres(path string) error {
	u, err := lookupPostgres()
	if err != nil {
		return err
	}
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		return fmt.Errorf("giving %s to postgres: %w", path, err)
	}
	return nil
}
