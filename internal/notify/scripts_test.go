package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/hooks"
)

func TestScriptMessage(t *testing.T) {
	ok := func(k hooks.Kind) hooks.Result { return hooks.Result{Script: k, Args: []string{"/s"}} }
	bad := func(k hooks.Kind) hooks.Result {
		return hooks.Result{Script: k, Args: []string{"/s"}, ExitCode: 1, Err: errors.New("exit status 1")}
	}
	tests := []struct {
		name     string
		res      hooks.Result
		want     Subject
		wantSend bool
		wantText string
	}{
		{"fence ok", ok(hooks.Fence), ExecutedFencingScript, true, "Executed script.fence."},
		{"fence failed", bad(hooks.Fence), FencingScriptError, true, "Failover has not occurred."},
		{"post-promotion failed", bad(hooks.PostPromotion), PostPromotionScriptFailed, true, "failed"},
		{"remote pre ok", ok(hooks.RemotePrePromotion), ExecutedRemotePrePromotionScript, true, ""},
		{"remote post failed", bad(hooks.RemotePostPromotion), RemotePostPromotionScriptFailed, true, ""},
		{"db failure ok", ok(hooks.DBFailure), ExecutedPostDatabaseFailureScript, true, ""},
		{"isolated failed", bad(hooks.PrimaryIsolated), PrimaryIsolationScriptFailed, true, ""},
		{"resumed failed", bad(hooks.Resumed), AgentResumedScriptError, true, ""},
		{"lb attach ok is silent", ok(hooks.LoadBalancerAttach), Subject{}, false, ""},
		{"lb detach failed", bad(hooks.LoadBalancerDetach), LoadBalancerDetachScriptError, true, ""},
		{"not configured is silent", hooks.Result{Script: hooks.Fence, Skipped: true}, Subject{}, false, ""},
		{"notification script has no notification", bad(hooks.Notification), Subject{}, false, ""},
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
		want     Subject
		wantSend bool
	}{
		{hooks.MonitorOK, true, Subject{}, false},
		{hooks.MonitorTimeout, true, CustomMonitorTimeout, true},
		{hooks.MonitorSafeModeFailure, false, CustomMonitorSafeModeFailure, true},
		{hooks.MonitorFailure, true, PrimaryCustomMonitorFailure, true},
		{hooks.MonitorFailure, false, StandbyCustomMonitorFailure, true},
	}
	for _, tt := range tests {
		m, send := MonitorMessage(hooks.MonitorReport{Outcome: tt.outcome, Result: hooks.Result{Script: hooks.CustomMonitor, Err: context.DeadlineExceeded}}, tt.primary)
		if send != tt.wantSend || m.Subject != tt.want {
			t.Errorf("%s primary=%v: got %+v %v, want %+v %v", tt.outcome, tt.primary, m.Subject, send, tt.want, tt.wantSend)
		}
	}
}

func TestSubjectsCatalogue(t *testing.T) {
	all := Subjects()
	if len(all) < 100 {
		t.Errorf("catalogue has %d subjects; §8 lists over 100", len(all))
	}
	seen := map[string]bool{}
	count := map[Level]int{}
	for _, s := range all {
		if s.Text == "" || s.Level < Info || s.Level > Severe {
			t.Errorf("bad subject %+v", s)
		}
		if seen[s.Text] {
			t.Errorf("duplicate subject text %q", s.Text)
		}
		seen[s.Text] = true
		count[s.Level]++
		if r := s.Render("n", "c"); strings.ContainsAny(r, "{}") {
			t.Errorf("subject %q renders with an unknown placeholder: %q", s.Text, r)
		}
	}
	for _, l := range []Level{Info, Warning, Severe} {
		if count[l] == 0 {
			t.Errorf("no %s subjects", l)
		}
	}
	if !seen[FailoverCompleted.Text] || FailoverCompleted.Level != Warning || PrimaryDatabaseFailure.Level != Severe {
		t.Error("catalogue misses or mislevels well-known subjects")
	}
	t.Logf("catalogue: %d INFO, %d WARNING, %d SEVERE", count[Info], count[Warning], count[Severe])
}
