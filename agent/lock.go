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
	prev := readPID(f)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, PID: prev}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	l := &Lock{path: path, f: f}
	if prev > 0 && prev != os.Getpid() {
		l.StalePID = prev
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		l.Release()
		return nil, fmt.Errorf("writing pid into lock file %s: %w", path, err)
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
