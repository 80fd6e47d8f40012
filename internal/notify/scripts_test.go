package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/notify/subject"
)

func TestScriptMessage(t *testing.T) {
	ok := func(k hooks.Kind) hooks.Result { return hooks.Result{Script: k, Args: []string{"/s"}} }
	bad := func(k hooks.Kind) hooks.Result {
		return hooks.Result{Script: k, Args: []string{"/s"}, ExitCode: 1, Err: errors.New("exit status 1")}
	}
	tests := []struct {
		name     string
		res      hooks.Result
		want     subject.Subject
		wantSend bool
		wantText string
	}{
		{"fence ok", ok(hooks.Fence), subject.ExecutedFencingScript, true, "Executed script.fence."},
		{"fence failed", bad(hooks.Fence), subject.FencingScriptError, true, "Failover has not occurred."},
		{"post-promotion failed", bad(hooks.PostPromotion), subject.PostPromotionScriptFailed, true, "failed"},
		{"remote pre ok", ok(hooks.RemotePrePromotion), subject.ExecutedRemotePrePromotionScript, true, ""},
		{"remote post failed", bad(hooks.RemotePostPromotion), subject.RemotePostPromotionScriptFailed, true, ""},
		{"db failure ok", ok(hooks.DBFailure), subject.ExecutedPostDatabaseFailureScript, true, ""},
		{"isolated failed", bad(hooks.PrimaryIsolated), subject.PrimaryIsolationScriptFailed, true, ""},
		{"resumed failed", bad(hooks.Resumed), subject.AgentResumedScriptError, true, ""},
		{"lb attach ok is silent", ok(hooks.LoadBalancerAttach), subject.Subject{}, false, ""},
		{"lb detach failed", bad(hooks.LoadBalancerDetach), subject.LoadBalancerDetachScriptError, true, ""},
		{"not configured is silent", hooks.Result{Script: hooks.Fence, Skipped: true}, subject.Subject{}, false, ""},
		{"notification script has no notification", bad(hooks.Notification), subject.Subject{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, send := ScriptMessage(tt.res)
			if send != tt.wantSend || m.Subject != tt.want {
				t.Fatalf("ScriptMessage = %+v, %v; want subject %+v, %v", m.Subject, send, tt.want, tt.wantSend)
			}
			if !send {
				return
			}
			if len(m.Results) != 1 || m.Results[0].Script != tt.res.Script {
				t.Errorf("result not carried: %+v", m.Results)
			}
			if !strings.Contains(m.Text, tt.wantText) {
				t.Errorf("text %q does not contain %q", m.Text, tt.wantText)
			}
		})
	}
}

func TestMonitorMessage(t *testing.T) {
	tests := []struct {
		outcome  hooks.MonitorOutcome
		primary  bool
		want     subject.Subject
		wantSend bool
	}{
		{hooks.MonitorOK, true, subject.Subject{}, false},
		{hooks.MonitorTimeout, true, subject.CustomMonitorTimeout, true},
		{hooks.MonitorSafeModeFailure, false, subject.CustomMonitorSafeModeFailure, true},
		{hooks.MonitorFailure, true, subject.PrimaryCustomMonitorFailure, true},
		{hooks.MonitorFailure, false, subject.StandbyCustomMonitorFailure, true},
	}
	for _, tt := range tests {
		m, send := MonitorMessage(hooks.MonitorReport{Outcome: tt.outcome, Result: hooks.Result{Script: hooks.CustomMonitor, Err: context.DeadlineExceeded}}, tt.primary)
		if send != tt.wantSend || m.Subject != tt.want {
			t.Errorf("%s primary=%v: got %+v %v, want %+v %v", tt.outcome, tt.primary, m.Subject, send, tt.want, tt.wantSend)
		}
	}
}
