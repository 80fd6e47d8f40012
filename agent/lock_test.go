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
