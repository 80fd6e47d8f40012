package harness

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var reaperOnce sync.Once

// startReaper makes this process the child subreaper of everything it
// starts and reaps the postgres processes it adopts.
//
// Why: pg_ctl daemonizes the postmaster, so the postmaster's parent is
// whichever ancestor reaps orphans. Where that is a slow init (this
// project's machines reap orphans about once a second), a postmaster killed
// with SIGKILL stays a zombie meanwhile, kill(pid, 0) still succeeds, and
// the next start or pg_rewind in that data directory fails with "lock file
// postmaster.pid already exists". On a real host init reaps at once; as
// subreaper we do the same for every postmaster our hosts start, the
// agents' included.
//
// Only zombies named postgres are reaped, so the exit statuses os/exec waits
// for (pg_ctl, ip, the agents) are never taken from it; other orphans stay
// zombies until the process ends.
func startReaper(tb TB) {
	reaperOnce.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			tb.Logf("harness: cannot become child subreaper (killed postmasters may linger as zombies): %v", err)
			return
		}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			t := time.NewTicker(250 * time.Millisecond) // in case a SIGCHLD was coalesced away
			defer t.Stop()
			for {
				select {
				case <-ch:
				case <-t.C:
				}
				reapPostgresZombies()
			}
		}()
	})
}

func reapPostgresZombies() {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, state, ppid, ok := procStat(pid)
		if !ok || comm != "postgres" || state != "Z" || ppid != self {
			continue
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// procStat parses comm, state and ppid from /proc/<pid>/stat.
func procStat(pid int) (comm, state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", "", 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 2 {
		return "", "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", "", 0, false
	}
	return s[open+1 : closing], f[0], ppid, true
}
