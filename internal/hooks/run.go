package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Defaults used when the Runner fields are zero.
const (
	// DefaultTimeout bounds a hook when neither the Runner nor the context
	// sets a deadline. A fence script that hangs must not hold a failover
	// forever; EFM documents no limit, so this is generous.
	DefaultTimeout = 60 * time.Second
	// DefaultSlowThreshold is when a still-running hook is warned about, as
	// serf's warnSlow does: long enough that normal scripts stay quiet, short
	// next to failover targets (seconds) so an operator sees what is holding up.
	DefaultSlowThreshold = 5 * time.Second
	// DefaultMaxOutput bounds the captured output put into logs and mails.
	DefaultMaxOutput = 16 << 10
)

// waitDelay is how long we wait for the output pipes to close after the
// script exited or was killed: a child left in the background (or escaped
// from the process group with setsid) holding stdout must not block us. A
// variable so tests can shorten it.
var waitDelay = 2 * time.Second

// Runner runs hooks for one agent. The zero value works (with os.Environ,
// the defaults above and a discarding logger) but sets empty EFM_* context.
type Runner struct {
	Logger         *slog.Logger
	Cluster        string // EFM_CLUSTER
	Node           string // EFM_NODE: this node's address
	VIP            string // EFM_VIP
	DBServiceOwner string // %u and EFM_DB_SERVICE_OWNER

	Timeout       time.Duration // per run; the context's deadline wins if earlier
	SlowThreshold time.Duration // warn when a run lasts longer; <0 disables
	MaxOutput     int           // bytes of output kept

	// Environ is the base environment of scripts; nil means os.Environ().
	Environ []string
}

// Result is the outcome of one hook run, for logs and notifications.
type Result struct {
	Script    Kind     // the property, e.g. script.fence
	Args      []string // argv after substitution; Args[0] is the program
	ExitCode  int      // -1 when the script did not exit by itself (killed, not started)
	Output    string   // combined stdout+stderr, bounded (stderr only for db.password)
	Truncated bool     // Output lost bytes past MaxOutput
	Duration  time.Duration
	TimedOut  bool  // killed at the deadline
	Err       error // nil exactly when the hook succeeded
	Skipped   bool  // no command configured: nothing ran, counts as success

	// Secret is the stdout of script.db.password (trailing newline removed).
	Secret Secret
}

// Secret holds a value that must not reach logs: it prints as [redacted]
// through fmt and slog; string(s) gives the value.
type Secret string

func (Secret) String() string       { return "[redacted]" }
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
func (s Secret) GoString() string   { return `hooks.Secret("[redacted]")` }

// OK reports whether the hook succeeded (exit 0, or not configured). For
// script.fence, !OK must abort the promotion.
func (r Result) OK() bool { return r.Err == nil }

// LogValue keeps Secret out of logs even when a whole Result is logged.
func (r Result) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("script", string(r.Script)),
		slog.Any("args", r.Args),
		slog.Int("exit_code", r.ExitCode),
		slog.Duration("duration", r.Duration),
		slog.Bool("timed_out", r.TimedOut),
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("error", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Run runs the hook configured by property k with command line command. An
// empty command is not an error: the result is Skipped and OK. Run returns
// when the script has exited and its output is closed, or at most waitDelay
// after that (a background child holding stdout), or, at the deadline, once
// the killed process group's output closes (again at most waitDelay).
func (r *Runner) Run(ctx context.Context, k Kind, command string, v Vars) Result {
	res := Result{Script: k, ExitCode: -1}
	if strings.TrimSpace(command) == "" {
		res.Skipped, res.ExitCode = true, 0
		return res
	}
	args, err := Expand(k, command, v, r.DBServiceOwner)
	if err != nil {
		res.Err = err
		r.logger().Error("hook not run: bad command line", "script", k, "error", err)
		return res
	}
	res.Args = args

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	limit := r.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	out := &boundedBuffer{limit: limit}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = r.environ(k, v)
	cmd.Stdin = nil // /dev/null: a hook that reads stdin must not hang on ours
	cmd.Stderr = out
	var secret *boundedBuffer
	if k == DBPassword {
		secret = &boundedBuffer{limit: 4096}
		cmd.Stdout = secret
	} else {
		cmd.Stdout = out
	}
	// Own process group, killed as a whole: the shell of a script and the
	// sleep or ssh it started must die together at the deadline.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = waitDelay

	log := r.logger().With("script", k, "event", k.Event())
	start := time.Now()
	slow := r.SlowThreshold
	if slow == 0 {
		slow = DefaultSlowThreshold
	}
	if slow > 0 {
		t := time.AfterFunc(slow, func() {
			log.Warn("hook is slow, still running", "args", args,
				"running_for", time.Since(start).Round(time.Millisecond), "timeout", timeout)
		})
		defer t.Stop()
	}

	err = cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The script itself finished (its status is in ProcessState); only
		// a background child kept the output pipe open. Judge the script.
		log.Warn("hook left a background process holding its output open; output after its exit is lost", "args", args)
		err = nil
		if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
			err = &exec.ExitError{ProcessState: cmd.ProcessState}
		}
	}
	res.Duration = time.Since(start)
	res.Output = out.String()
	res.Truncated = out.truncated()
	if secret != nil {
		res.Secret = Secret(strings.TrimRight(secret.String(), "\r\n"))
	}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	// Timed out only if it did not exit by itself: a script that exited 1
	// just as the deadline passed failed on its own account.
	res.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded) && res.ExitCode < 0
	switch {
	case err == nil:
	case res.TimedOut:
		res.Err = fmt.Errorf("%s %q: killed after %s deadline: %w", k, args[0], timeout, context.DeadlineExceeded)
	case ctx.Err() != nil && res.ExitCode < 0:
		// The caller gave up (agent stopping): say so rather than "killed".
		res.Err = fmt.Errorf("%s %q: stopped: %w", k, args[0], ctx.Err())
	case res.ExitCode > 0:
		res.Err = fmt.Errorf("%s %q: exit status %d", k, args[0], res.ExitCode)
	default:
		res.Err = fmt.Errorf("%s %q: %w", k, args[0], err)
	}

	attrs := []any{"args", args, "exit_code", res.ExitCode, "duration", res.Duration.Round(time.Millisecond)}
	if k != DBPassword || res.Output != "" {
		attrs = append(attrs, "output", res.Output)
	}
	if res.Err != nil {
		log.Warn("hook failed", append(attrs, "timed_out", res.TimedOut, "error", res.Err)...)
	} else {
		log.Info("hook ran", attrs...)
	}
	return res
}

// environ builds the script environment: the base without inherited EFM_*
// variables, then every EFM_* variable (empty ones too), then v.Env.
func (r *Runner) environ(k Kind, v Vars) []string {
	base := r.Environ
	if base == nil {
		base = os.Environ()
	}
	env := make([]string, 0, len(base)+16)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "EFM_") {
			env = append(env, kv)
		}
	}
	set := func(k, v string) { env = append(env, k+"="+v) }
	set("EFM_EVENT", k.Event())
	set("EFM_SCRIPT", string(k))
	set("EFM_CLUSTER", r.Cluster)
	set("EFM_NODE", r.Node)
	set("EFM_NODE_TYPE", v.NodeType)
	set("EFM_NEW_PRIMARY", v.NewPrimary)
	set("EFM_OLD_PRIMARY", v.FailedPrimary)
	set("EFM_TARGET_NODE", v.Target)
	set("EFM_TARGET_TYPE", v.TargetType)
	set("EFM_VIP", r.VIP)
	set("EFM_DB_SERVICE_OWNER", r.DBServiceOwner)
	if k == Notification {
		set("EFM_NOTIFICATION_SUBJECT", v.Subject)
		if _, ok := v.Env["EFM_NOTIFICATION_LEVEL"]; !ok {
			set("EFM_NOTIFICATION_LEVEL", "")
		}
	}
	for name, val := range v.Env {
		// exec uses the last value of a duplicated name, so this overrides.
		set(name, val)
	}
	return env
}
