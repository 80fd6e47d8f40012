package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	fail := Result{ExitCode: 1, Err: errors.New("exit status 1")}
	timeout := Result{ExitCode: -1, TimedOut: true, Err: context.DeadlineExceeded}
	tests := []struct {
		name string
		res  Result
		safe bool
		want MonitorOutcome
	}{
		{"exit 0", Result{}, false, MonitorOK},
		{"exit 0 safe mode", Result{}, true, MonitorOK},
		{"non-zero is a failure", fail, false, MonitorFailure},
		{"non-zero in safe mode is reported only", fail, true, MonitorSafeModeFailure},
		{"timeout is not a failure", timeout, false, MonitorTimeout},
		{"timeout in safe mode", timeout, true, MonitorTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.res, tt.safe); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestMonitor drives a monitor script through each outcome in turn: the
// script reads the mode for its next run from a file the test writes.
func TestMonitor(t *testing.T) {
	for _, safe := range []bool{false, true} {
		t.Run(fmt.Sprintf("safe=%v", safe), func(t *testing.T) {
			r, _ := newRunner(t)
			mode := filepath.Join(t.TempDir(), "mode")
			if err := os.WriteFile(mode, []byte("ok"), 0o644); err != nil {
				t.Fatal(err)
			}
			s := script(t, "mon.sh", `case "$(cat "$1")" in
ok) exit 0;;
fail) echo "db unhealthy"; exit 2;;
hang) exec sleep 60;;
esac`)
			var (
				mu      sync.Mutex
				reports []MonitorReport
			)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				errc <- r.Monitor(ctx, MonitorConfig{
					Command: s + " " + mode, Interval: 10 * time.Millisecond,
					Timeout: 200 * time.Millisecond, SafeMode: safe,
					Vars: func() Vars { return Vars{NodeType: "primary"} },
				}, func(rep MonitorReport) {
					mu.Lock()
					defer mu.Unlock()
					reports = append(reports, rep)
				})
			}()
			t.Cleanup(func() { cancel(); <-errc })
			last := func() (MonitorReport, int) {
				mu.Lock()
				defer mu.Unlock()
				if len(reports) == 0 {
					return MonitorReport{}, 0
				}
				return reports[len(reports)-1], len(reports)
			}
			wantFail := MonitorFailure
			if safe {
				wantFail = MonitorSafeModeFailure
			}
			for _, step := range []struct {
				mode string
				want MonitorOutcome
			}{{"ok", MonitorOK}, {"fail", wantFail}, {"hang", MonitorTimeout}, {"ok", MonitorOK}} {
				if err := os.WriteFile(mode, []byte(step.mode), 0o644); err != nil {
					t.Fatal(err)
				}
				_, n := last()
				// Skip the report of a run that may have read the old mode.
				waitFor(t, 10*time.Second, "monitor report for "+step.mode, func() bool {
					rep, m := last()
					return m >= n+2 && rep.Outcome == step.want
				})
			}
			rep, _ := last()
			if rep.Result.Script != CustomMonitor {
				t.Errorf("report script %s, want %s", rep.Result.Script, CustomMonitor)
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("Monitor returned %v, want context.Canceled", err)
			}
			errc <- nil // for the cleanup
		})
	}
}

func TestMonitorRefusesBadConfig(t *testing.T) {
	r, _ := newRunner(t)
	for _, cfg := range []MonitorConfig{
		{Command: "", Interval: time.Second},
		{Command: "/bin/true", Interval: 0},
		{Command: "/bin/true 'x", Interval: time.Second},
	} {
		if err := r.Monitor(context.Background(), cfg, nil); err == nil {
			t.Errorf("Monitor(%+v) = nil, want a configuration error", cfg)
		}
	}
}
