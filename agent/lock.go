package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is the per-cluster lock file, <lock.dir>/<cluster>.lock. It is held
// with flock(2), which the kernel drops when the holder dies, so a lock file
// left by a killed agent is recognised as stale and taken over, without the
// manual clean-up EDB EFM asks for. The holder's PID is written into the
// file so a refused second agent can name it.
type Lock struct {
	path string
	f    *os.File
	// StalePID is the PID found in a lock file whose holder had died, or 0.
	StalePID int
}

// HeldError reports that another live agent holds the lock.
type HeldError struct {
	Path string
	PID  int
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("pid %d", e.PID)
	}
	return fmt.Sprintf("another agent for this cluster is already running on this node: lock %s is held by %s", e.Path, who)
}

// AcquireLock takes the lock at path, creating its directory if needed.
func AcquireLock(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating lock.dir %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	prev, err := flockPID(f)
	if err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			return nil, &HeldError{Path: path, PID: prev}
		}
		return nil, err
	}
	l := &Lock{path: path, f: f}
	if prev > 0 && prev != os.Getpid() {
		l.StalePID = prev
	}
	return l, nil
}

// Path is the lock file's name.
func (l *Lock) Path() string { return l.path }

// Release drops the lock and removes the file.
func (l *Lock) Release() error {
	if l.f == nil {
		return nil
	}
	os.Remove(l.path)
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// errLockHeld is flockPID's answer when another process holds the lock.
var errLockHeld = errors.New("lock held by another process")

// flockPID takes an exclusive flock(2) on f without waiting and writes this
// process's pid into it, so that the next process refused can name the
// holder. prev is the pid the file named before: the holder's when the
// error is errLockHeld, a dead agent's when the lock was stale. Both the
// cluster lock and the state file's lock are taken this way.
func flockPID(f *os.File) (prev int, err error) {
	prev = readPID(f)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return prev, errLockHeld
		}
		return prev, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		return prev, fmt.Errorf("writing pid into %s: %w", f.Name(), err)
	}
	return prev, nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// WritePIDFile writes the agent's PID to path atomically.
func WritePIDFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating pid.dir %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pid file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing pid file %s: %w", path, err)
	}
	return nil
}
