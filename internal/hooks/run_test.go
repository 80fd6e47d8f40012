package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunEnvironment(t *testing.T) {
	r, _ := newRunner(t)
	s := script(t, "env.sh", `env | grep '^EFM_' | sort`)
	res := r.Run(context.Background(), Fence, s, Vars{
		NewPrimary: "10.0.0.2", FailedPrimary: "10.0.0.1", NodeType: "standby",
		Env: map[string]string{"EFM_EXTRA": "x"},
	})
	if !res.OK() {
		t.Fatalf("Run: %v (output %q)", res.Err, res.Output)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{
		"EFM_EVENT": "fence", "EFM_SCRIPT": "script.fence", "EFM_CLUSTER": "efm",
		"EFM_NODE": "10.0.0.1", "EFM_NODE_TYPE": "standby", "EFM_NEW_PRIMARY": "10.0.0.2",
		"EFM_OLD_PRIMARY": "10.0.0.1", "EFM_TARGET_NODE": "", "EFM_TARGET_TYPE": "",
		"EFM_VIP": "10.0.0.100", "EFM_DB_SERVICE_OWNER": "postgres", "EFM_EXTRA": "x",
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
		}
	}
	if _, ok := got["EFM_STALE"]; ok {
		t.Errorf("inherited EFM_STALE leaked into the hook environment")
	}
	if len(got) != len(want) {
		t.Errorf("hook saw %d EFM_ variables, want %d: %v", len(got), len(want), got)
	}
}

func TestRunLoadBalancerArgsAndEnv(t *testing.T) {
	r, _ := newRunner(t)
	s := script(t, "lb.sh", `echo "$1 $2 $3 $EFM_EVENT $EFM_TARGET_NODE $EFM_TARGET_TYPE"`)
	res := r.Run(context.Background(), LoadBalancerDetach, s+" detach %h %t", Vars{Target: "10.0.0.3", TargetType: "p"})
	if want := "detach 10.0.0.3 p load-balancer-detach 10.0.0.3 p\n"; res.Output != want || !res.OK() {
		t.Errorf("output %q err %v, want %q", res.Output, res.Err, want)
	}
}

func TestRunNotificationArgs(t *testing.T) {
	r, _ := newRunner(t)
	s := script(t, "n.sh", `printf '%s|' "$#" "$1" "$2" "$EFM_NOTIFICATION_SUBJECT" "$EFM_NOTIFICATION_LEVEL"`)
	res := r.Run(context.Background(), Notification, s, Vars{
		Subject: "[SEVERE] EFM Fencing script error", Body: "line1\nline2",
		Env: map[string]string{"EFM_NOTIFICATION_LEVEL": "SEVERE"},
	})
	want := "2|[SEVERE] EFM Fencing script error|line1\nline2|[SEVERE] EFM Fencing script error|SEVERE|"
	if res.Output != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
}

func TestRunShellInjectionStaysOneArgument(t *testing.T) {
	r, _ := newRunner(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	s := script(t, "f.sh", `printf '%s\n' "$#"; for a in "$@"; do printf '<%s>\n' "$a"; done`)
	evil := []string{
		`10.0.0.1; touch ` + marker,
		`$(touch ` + marker + `)`,
		"`touch " + marker + "`",
		`x" "y`,
		`a b	c`,
		`' ; touch ` + marker + ` '`,
	}
	for _, val := range evil {
		res := r.Run(context.Background(), Fence, s+" --old %f", Vars{FailedPrimary: val})
		want := fmt.Sprintf("2\n<--old>\n<%s>\n", val)
		if res.Output != want {
			t.Errorf("value %q: output %q, want %q", val, res.Output, want)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("injected command ran: %s exists (stat err %v)", marker, err)
	}
}

func TestRunNonZeroExit(t *testing.T) {
	r, h := newRunner(t)
	s := script(t, "fail.sh", `echo "cannot reach ipmi" >&2; exit 3`)
	res := r.Run(context.Background(), Fence, s, Vars{})
	if res.OK() || res.ExitCode != 3 || res.TimedOut {
		t.Fatalf("result OK=%v exit=%d timedOut=%v, want failure with exit 3", res.OK(), res.ExitCode, res.TimedOut)
	}
	if !strings.Contains(res.Output, "cannot reach ipmi") {
		t.Errorf("stderr not captured: %q", res.Output)
	}
	if !strings.Contains(res.Err.Error(), "exit status 3") {
		t.Errorf("error %q does not give the exit status", res.Err)
	}
	if !h.has(slog.LevelWarn, "hook failed") {
		t.Errorf("failure not logged:\n%s", h.text())
	}
}

func TestRunMissingProgram(t *testing.T) {
	r, _ := newRunner(t)
	res := r.Run(context.Background(), PostPromotion, "/nonexistent/efm-hook %p", Vars{NewPrimary: "x"})
	if res.OK() || res.ExitCode != -1 {
		t.Fatalf("OK=%v exit=%d, want failure with exit -1", res.OK(), res.ExitCode)
	}
	if !strings.Contains(res.Err.Error(), "/nonexistent/efm-hook") {
		t.Errorf("error %q does not name the program", res.Err)
	}
}

func TestRunBadCommandLine(t *testing.T) {
	r, _ := newRunner(t)
	res := r.Run(context.Background(), Fence, "/bin/true 'unterminated", Vars{})
	if res.OK() || !strings.Contains(res.Err.Error(), "script.fence") {
		t.Fatalf("OK=%v err=%v, want an error naming the property", res.OK(), res.Err)
	}
}

func TestRunSkippedWhenNotConfigured(t *testing.T) {
	r, _ := newRunner(t)
	res := r.Run(context.Background(), Fence, "  ", Vars{})
	if !res.OK() || !res.Skipped {
		t.Errorf("empty command: OK=%v Skipped=%v, want both true", res.OK(), res.Skipped)
	}
}

func TestRunOutputTruncated(t *testing.T) {
	r, _ := newRunner(t)
	r.MaxOutput = 1000
	s := script(t, "chatty.sh", `i=0; while [ $i -lt 2000 ]; do echo "0123456789012345678901234567890123456789"; i=$((i+1)); done; echo done >&2`)
	res := r.Run(context.Background(), PostPromotion, s, Vars{})
	if !res.OK() {
		t.Fatalf("Run: %v", res.Err)
	}
	if !res.Truncated || !strings.Contains(res.Output, "more bytes of output truncated") {
		t.Errorf("Truncated=%v, output tail %q", res.Truncated, res.Output[max(0, len(res.Output)-80):])
	}
	if kept, _, _ := strings.Cut(res.Output, "\n[..."); len(kept) != 1000 {
		t.Errorf("kept %d bytes, want 1000", len(kept))
	}
}

func TestRunDeadlineKillsProcessGroup(t *testing.T) {
	r, h := newRunner(t)
	r.Timeout = 300 * time.Millisecond
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The child sleep would outlive a kill of the shell alone.
	s := script(t, "hang.sh", `sleep 60 & echo $! > "$1"; echo started; wait`)
	res := r.Run(context.Background(), Fence, s+" "+pidFile, Vars{})
	if res.OK() || !res.TimedOut || res.ExitCode != -1 {
		t.Fatalf("OK=%v TimedOut=%v exit=%d, want a timeout", res.OK(), res.TimedOut, res.ExitCode)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", res.Err)
	}
	if res.Output != "started\n" {
		t.Errorf("output before the kill not kept: %q", res.Output)
	}
	t.Logf("run returned after %s (timeout %s)", res.Duration, r.Timeout)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	waitFor(t, 5*time.Second, fmt.Sprintf("child sleep %d to die", pid), func() bool { return !alive(pid) })
	if !h.has(slog.LevelWarn, "hook failed") {
		t.Errorf("timeout not logged:\n%s", h.text())
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" closing the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestRunContextCancelKills(t *testing.T) {
	r, _ := newRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := script(t, "hang.sh", `echo up; exec sleep 60`)
	done := make(chan Result, 1)
	go func() { done <- r.Run(ctx, Resumed, s, Vars{}) }()
	cancel()
	res := <-done
	if res.OK() || res.TimedOut || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("cancelled run: OK=%v TimedOut=%v Err=%v, want a context.Canceled failure without timeout", res.OK(), res.TimedOut, res.Err)
	}
}

func TestRunSlowWarning(t *testing.T) {
	r, h := newRunner(t)
	r.SlowThreshold = 20 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	// The script waits for the test to see the warning, so the warning
	// cannot race with the end of the script.
	s := script(t, "slow.sh", `while [ ! -e "$1" ]; do sleep 0.01; done; echo finished`)
	done := make(chan Result, 1)
	go func() { done <- r.Run(context.Background(), PostPromotion, s+" "+release, Vars{}) }()
	waitFor(t, 10*time.Second, "slow hook warning", func() bool { return h.has(slog.LevelWarn, "hook is slow") })
	select {
	case res := <-done:
		t.Fatalf("Run returned before release: %+v", res)
	default:
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := <-done; !res.OK() || res.Output != "finished\n" {
		t.Errorf("OK=%v output %q", res.OK(), res.Output)
	}
}

func TestRunNoSlowWarningForFastHook(t *testing.T) {
	r, h := newRunner(t)
	r.SlowThreshold = time.Hour
	if res := r.Run(context.Background(), Resumed, "/bin/true", Vars{}); !res.OK() {
		t.Fatal(res.Err)
	}
	if h.has(slog.LevelWarn, "hook is slow") {
		t.Errorf("fast hook warned about as slow")
	}
}

func TestRunDBPasswordSecretNotLogged(t *testing.T) {
	r, h := newRunner(t)
	s := script(t, "pw.sh", `echo 's3cr3t-pw'; echo 'vault ok' >&2`)
	res := r.Run(context.Background(), DBPassword, s, Vars{})
	if !res.OK() || res.Secret != "s3cr3t-pw" {
		t.Fatalf("OK=%v Secret=%q", res.OK(), res.Secret)
	}
	if res.Output != "vault ok\n" {
		t.Errorf("Output = %q, want stderr only", res.Output)
	}
	r.Logger.Info("whole result", "result", res, "secret", res.Secret)
	if got := fmt.Sprintf("%v %+v %#v %s", res, res, res, res.Secret); strings.Contains(got, "s3cr3t") {
		t.Errorf("password printed by fmt: %s", got)
	}
	if strings.Contains(h.text(), "s3cr3t") {
		t.Errorf("password reached the log:\n%s", h.text())
	}
}

func TestRunBackgroundChildKeepsOutputOpen(t *testing.T) {
	old := waitDelay
	waitDelay = 100 * time.Millisecond
	t.Cleanup(func() { waitDelay = old })
	for _, code := range []int{0, 4} {
		t.Run(fmt.Sprintf("exit %d", code), func(t *testing.T) {
			r, h := newRunner(t)
			pidFile := filepath.Join(t.TempDir(), "bg.pid")
			// The background sleep inherits stdout, so the pipe stays open
			// after the script exits.
			s := script(t, "bg.sh", fmt.Sprintf(`sleep 60 & echo $! > "$1"; echo spawned; exit %d`, code))
			res := r.Run(context.Background(), PostPromotion, s+" "+pidFile, Vars{})
			if b, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
				}
			}
			if res.ExitCode != code || res.OK() != (code == 0) || res.TimedOut {
				t.Errorf("exit %d OK=%v TimedOut=%v err=%v, want exit %d judged on its own", res.ExitCode, res.OK(), res.TimedOut, res.Err, code)
			}
			if !strings.Contains(res.Output, "spawned") {
				t.Errorf("output %q lost", res.Output)
			}
			// os/exec reports the pipe held open only when the exit status
			// is 0 (a failed exit takes precedence), so only then is there
			// anything to warn about.
			if code == 0 && !h.has(slog.LevelWarn, "background process") {
				t.Errorf("no warning about the background process:\n%s", h.text())
			}
		})
	}
}
