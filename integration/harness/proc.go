package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ProcOptions says how to run a process in a host.
type ProcOptions struct {
	AsPostgres bool     // run as the postgres OS user instead of root
	Env        []string // added to the harness's environment
	Dir        string   // working directory; the host's Dir when empty
}

// Proc is a process started in a host's namespace, in a process group of its
// own so that it and its children are signalled together.
type Proc struct {
	Name    string
	Host    *Host
	Pid     int
	LogPath string // stdout and stderr
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logf    *os.File
}

var procSeq sync.Map // host NS + name -> *atomic.Int64, so repeated names get distinct logs

// Start runs argv inside h's namespace with output to <h.Dir>/<name>.log
// (appending a counter when the name repeats). The process outlives ctx; it
// is killed with its process group at cleanup on tb.
func (h *Host) Start(tb TB, name string, opts ProcOptions, argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("starting a process: empty argv")
	}
	logPath := filepath.Join(h.Dir, name+".log")
	if v, loaded := procSeq.LoadOrStore(h.NS+"/"+name, new(atomic.Int64)); loaded {
		logPath = filepath.Join(h.Dir, fmt.Sprintf("%s.%d.log", name, v.(*atomic.Int64).Add(1)))
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating log of %s on %s: %w", name, h.Name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Dir = opts.Dir
	if cmd.Dir == "" {
		cmd.Dir = h.Dir
	}
	// No Pdeathsig: it fires when the forking thread exits, and inNetns's
	// thread is short-lived. Cleanup kills by process group instead.
	attr := &syscall.SysProcAttr{Setpgid: true}
	if opts.AsPostgres {
		u, err := lookupPostgres()
		if err != nil {
			lf.Close()
			return nil, err
		}
		attr.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	cmd.SysProcAttr = attr
	if err := inHost(h, cmd.Start); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s (%s) on %s: %w", name, strings.Join(argv, " "), h.Name, err)
	}
	p := &Proc{Name: name, Host: h, Pid: cmd.Process.Pid, LogPath: logPath, cmd: cmd, done: make(chan struct{}), logf: lf}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	tb.Cleanup(p.Kill)
	tb.Logf("harness: started %s on %s, pid %d, log %s", name, h.Name, p.Pid, logPath)
	return p, nil
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.exited() {
		return nil // its pid may be another process's by now
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s (pid %d) on %s with %v: %w", p.Name, p.Pid, p.Host.Name, sig, err)
	}
	return nil
}

// Kill SIGKILLs the process group and waits for the process to be reaped.
func (p *Proc) Kill() {
	if p.exited() {
		return // reaped: its pid may be another process's by now
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Stop freezes the process group (SIGSTOP), as a paused VM would be, and
// returns once the process is seen stopped.
func (p *Proc) Stop() error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return p.waitState(func(st string) bool { return st == "T" || st == "t" }, "stopped")
}

// Cont resumes a group frozen by Stop and returns once it runs again.
func (p *Proc) Cont() error {
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	return p.waitState(func(st string) bool { return st != "T" && st != "t" }, "running")
}

func (p *Proc) waitState(ok func(string) bool, what string) error {
	err := Eventually(context.Background(), 2*time.Second, 5*time.Millisecond, func(context.Context) (bool, error) {
		st := procState(p.Pid)
		if st == "" || st == "Z" {
			return false, fmt.Errorf("%s (pid %d) on %s has exited", p.Name, p.Pid, p.Host.Name)
		}
		return ok(st), fmt.Errorf("%s (pid %d) on %s in state %s", p.Name, p.Pid, p.Host.Name, st)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to be %s: %w", p.Name, what, err)
	}
	return nil
}

// procState is the one-letter state in /proc/<pid>/stat ("" when gone).
func procState(pid int) string {
	_, st, _, ok := procStat(pid)
	if !ok {
		return ""
	}
	return st
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Log returns what the process has written so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Run runs argv to completion inside h's namespace and returns its combined
// output; the error names the command and carries the output.
func (h *Host) Run(ctx context.Context, opts ProcOptions, argv ...string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("running a command: empty argv")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Dir = opts.Dir
	if cmd.Dir == "" {
		cmd.Dir = h.Dir
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if opts.AsPostgres {
		u, err := lookupPostgres()
		if err != nil {
			return "", err
		}
		attr.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	cmd.SysProcAttr = attr
	// Kill the whole group on ctx end: pg_ctl and friends fork.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if err := inHost(h, cmd.Start); err != nil {
		return "", fmt.Errorf("starting %s on %s: %w", strings.Join(argv, " "), h.Name, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.String(), fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), h.Name, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// exited reports whether the process has been reaped.
func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
