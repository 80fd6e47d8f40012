package notify

import (
	"fmt"
	"strings"

	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/notify/subject"
)

// scriptSubjects maps each reported hook to its subjects on success and
// failure (efm-reference §8). Zero Text: EFM sends nothing in that case.
var scriptSubjects = map[hooks.Kind][2]subject.Subject{
	hooks.Fence:               {subject.ExecutedFencingScript, subject.FencingScriptError},
	hooks.PostPromotion:       {subject.ExecutedPostPromotionScript, subject.PostPromotionScriptFailed},
	hooks.RemotePrePromotion:  {subject.ExecutedRemotePrePromotionScript, subject.RemotePrePromotionScriptFailed},
	hooks.RemotePostPromotion: {subject.ExecutedRemotePostPromotionScript, subject.RemotePostPromotionScriptFailed},
	hooks.DBFailure:           {subject.ExecutedPostDatabaseFailureScript, subject.PostDatabaseFailureScriptError},
	hooks.PrimaryIsolated:     {subject.ExecutedPrimaryIsolationScript, subject.PrimaryIsolationScriptFailed},
	hooks.Resumed:             {subject.ExecutedAgentResumedScript, subject.AgentResumedScriptError},
	hooks.LoadBalancerAttach:  {{}, subject.LoadBalancerAttachScriptError},
	hooks.LoadBalancerDetach:  {{}, subject.LoadBalancerDetachScriptError},
	hooks.DBPassword:          {{}, subject.DBPasswordScriptFailed},
}

// ScriptMessage returns the notification EFM sends after running hook
// res.Script, carrying the result, and false when there is none to send
// (the script was not configured, or EFM is silent about that outcome, as for
// a load-balancer script that succeeded). A failed fencing script says that
// failover has not occurred, since the caller aborts the promotion.
func ScriptMessage(res hooks.Result) (Message, bool) {
	if res.Skipped {
		return Message{}, false
	}
	pair, ok := scriptSubjects[res.Script]
	if !ok {
		return Message{}, false
	}
	subj := pair[0]
	if !res.OK() {
		subj = pair[1]
	}
	if subj.Text == "" {
		return Message{}, false
	}
	var text string
	switch {
	case res.OK():
		text = fmt.Sprintf("Executed %s.", res.Script)
	case res.Script == hooks.Fence:
		text = fmt.Sprintf("%s failed: %v. Failover has not occurred.", res.Script, res.Err)
	default:
		text = fmt.Sprintf("%s failed: %v.", res.Script, res.Err)
	}
	return Message{Subject: subj, Text: text, Results: []hooks.Result{res}}, true
}

// MonitorMessage returns the notification for one custom monitor run, and
// false for a run that succeeded. primary says which role this node had.
func MonitorMessage(rep hooks.MonitorReport, primary bool) (Message, bool) {
	var subj subject.Subject
	switch rep.Outcome {
	case hooks.MonitorTimeout:
		subj = subject.CustomMonitorTimeout
	case hooks.MonitorSafeModeFailure:
		subj = subject.CustomMonitorSafeModeFailure
	case hooks.MonitorFailure:
		subj = subject.StandbyCustomMonitorFailure
		if primary {
			subj = subject.PrimaryCustomMonitorFailure
		}
	default:
		return Message{}, false
	}
	return Message{
		Subject: subj,
		Text:    fmt.Sprintf("%s: %s.", hooks.CustomMonitor, rep.Outcome),
		Results: []hooks.Result{rep.Result},
	}, true
}

// writeResult appends one script result in EFM's "Results:" layout.
func writeResult(b *strings.Builder, r hooks.Result) {
	if r.Skipped {
		return
	}
	b.WriteString("\n\nScript: ")
	b.WriteString(strings.Join(quoteArgs(r.Args), " "))
	b.WriteString("\nResults:\nexit status: ")
	fmt.Fprintf(b, "%d", r.ExitCode)
	if r.TimedOut {
		fmt.Fprintf(b, " (killed at its deadline after %s)", r.Duration.Round(1e6))
	} else if r.Err != nil && r.ExitCode < 0 {
		fmt.Fprintf(b, " (%v)", r.Err)
	}
	if out := strings.TrimRight(r.Output, "\n"); out != "" {
		b.WriteString("\n")
		b.WriteString(out)
	}
}

// quoteArgs quotes the arguments that a reader could misread.
func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return q
}
