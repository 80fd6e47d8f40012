package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLockRefusesSecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "efm.lock")
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = AcquireLock(path)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second lock: want HeldError, got %v", err)
	}
	if held.PID != os.Getpid() || !strings.Contains(err.Error(), path) {
		t.Fatalf("error must name the lock and the holder's pid: %v", err)
	}
}

// A lock file left behind by a process that died holds no flock: the next
// agent takes it over and reports whose it was.
func TestLockTakesOverStaleLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efm.lock")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	if err := os.WriteFile(path, []byte(strconv.Itoa(dead)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	defer l.Release()
	if l.StalePID != dead {
		t.Fatalf("StalePID = %d, want %d", l.StalePID, dead)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want our pid", b)
	}
}

// flockPID fails when it cannot record its pid, rather than holding a
// lock whose file names nobody (or a dead agent). A file open read-only
// takes the flock but refuses the write.
func TestFlockPIDReportsAFailedPidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efm.lock")
	if err := os.WriteFile(path, []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	prev, err := flockPID(f)
	if err == nil || !strings.Contains(err.Error(), "writing pid into "+path) {
		t.Fatalf("flockPID on a read-only file = %v, want an error writing the pid into %s", err, path)
	}
	if prev != 12345 {
		t.Errorf("prev = %d, want the pid the file held (12345)", prev)
	}
}
