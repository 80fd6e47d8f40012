package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if r := SkipReason(); r != "" {
		t.Skip("SKIPPING INTEGRATION TEST: " + r)
	}
}

// A program outside go test tears everything down with Standalone.Close:
// namespaces gone, the server and a started process dead, files removed.
func TestStandaloneTeardown(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := NewStandalone(slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	defer s.Close()
	nw, err := NewNetwork(ctx, s, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := InitPrimary(ctx, s, nw.Host("a"), PGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pmPid, err := pg.PostmasterPID()
	if err != nil {
		t.Fatal(err)
	}
	sleeper, err := nw.Host("b").Start(s, "sleeper", ProcOptions{}, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for _, h := range nw.Hosts() {
		if _, err := os.Stat(nsPath(h.NS)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s survives Close: %v", h.NS, err)
		}
	}
	if _, err := os.Stat(nsPath(nw.swNS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("switch namespace %s survives Close: %v", nw.swNS, err)
	}
	if _, err := os.Stat(nw.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s survives Close: %v", nw.Dir, err)
	}
	for _, pid := range []int{pmPid, sleeper.Pid} {
		if alive(pid) {
			t.Errorf("process %d survives Close", pid)
		}
	}
}

// Sweep removes what a dead run left and nothing of a live one.
func TestSweepRemovesLeftoversOfDeadRuns(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	// A pid that surely belonged to a process that is gone now.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	deadNS := fmt.Sprintf("%s%d-1-n1", namePrefix, dead)
	liveNS := fmt.Sprintf("%s%d-999-n1", namePrefix, os.Getppid()) // our parent (go test) is alive
	deadDir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-1", namePrefix, dead))
	for _, ns := range []string{deadNS, liveNS} {
		if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = deleteNamespace(ctx, ns) })
	}
	if err := os.MkdirAll(filepath.Join(deadDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(deadDir) })
	// A process left running inside the dead run's namespace.
	orphan := exec.Command("sleep", "600")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := inNetns(nsPath(deadNS), orphan.Start); err != nil {
		t.Fatal(err)
	}
	go orphan.Wait() //nolint:errcheck // reaped so that alive() sees it gone

	Sweep(ctx, t)

	if _, err := os.Stat(nsPath(deadNS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s of dead pid %d survives Sweep: %v", deadNS, dead, err)
	}
	if _, err := os.Stat(deadDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s of dead pid %d survives Sweep: %v", deadDir, dead, err)
	}
	if _, err := os.Stat(nsPath(liveNS)); err != nil {
		t.Errorf("Sweep removed %s of a live process: %v", liveNS, err)
	}
	if err := Eventually(ctx, 5e9, 2e7, func(context.Context) (bool, error) { return !alive(orphan.Process.Pid), nil }); err != nil {
		t.Errorf("process %d in the dead run's namespace survives Sweep", orphan.Process.Pid)
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// A zombie waiting for a non-reaping init is dead too.
	st := procState(pid)
	return st != "" && st != "Z"
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// A killed postmaster's System V segment stays in its host's IPC namespace,
// never in the machine's, and goes with the network: thousands of killed
// servers must not exhaust SHMMNI for the runs after (a CI run died of it).
func TestKilledPostmasterSegmentGoesWithTheHost(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := NewStandalone(slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	defer s.Close()
	nw, err := NewNetwork(ctx, s, "a")
	if err != nil {
		t.Fatal(err)
	}
	h := nw.Host("a")
	pg, err := InitPrimary(ctx, s, h, PGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pmPid, err := pg.PostmasterPID()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pmPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	inHostShm, err := h.Run(ctx, ProcOptions{}, "cat", "/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	if !shmCreatedBy(inHostShm, pmPid) {
		t.Fatalf("no System V segment of postmaster %d in host a's IPC namespace:\n%s", pmPid, inHostShm)
	}
	root, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	if shmCreatedBy(string(root), pmPid) {
		t.Fatalf("postmaster %d made its segment in the machine's IPC namespace", pmPid)
	}
	s.Close()
	if _, err := os.Stat(ipcPath(h.NS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("IPC namespace %s survives Close: %v", ipcPath(h.NS), err)
	}
}

// shmCreatedBy reports whether a /proc/sysvipc/shm listing has a segment
// whose creator (cpid, the fifth column) is pid.
func shmCreatedBy(listing string, pid int) bool {
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}
