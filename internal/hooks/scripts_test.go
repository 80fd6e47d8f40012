package hooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example scripts in /scripts, run through the Runner the way the agent
// runs them, with only their safe settings (dry runs, loopback webhook).

func exampleScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("example script %s not found: %v", name, err)
	}
	return p
}

func exampleRunner(t *testing.T, env ...string) *Runner {
	t.Helper()
	r, _ := newRunner(t)
	r.Environ = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOOKS_CONF=" + filepath.Join(t.TempDir(), "absent.conf"),
	}, env...)
	return r
}

func TestExampleFence(t *testing.T) {
	fence := exampleScript(t, "fence.sh")
	tests := []struct {
		name     string
		env      []string
		failed   string
		wantExit int
		wantOut  string
	}{
		{"unconfigured refuses", nil, "10.0.0.1", 1, "FENCE_METHOD is not set"},
		{"nothing to fence", nil, "", 0, "nothing to fence"},
		{"method none", []string{"FENCE_METHOD=none"}, "10.0.0.1", 0, "fenced by other means"},
		{"option injection refused", []string{"FENCE_METHOD=ssh", "FENCE_DRY_RUN=1"}, "-oProxyCommand=touch /tmp/x", 2, "suspicious"},
		{"ssh dry run", []string{"FENCE_METHOD=ssh", "FENCE_DRY_RUN=1"}, "10.0.0.1", 0, "dry run: ssh -o BatchMode=yes -o ConnectTimeout=5 postgres@10.0.0.1"},
		{"ipmi without bmc", []string{"FENCE_METHOD=ipmi"}, "10.0.0.1", 3, "FENCE_IPMI_HOST_10_0_0_1"},
		{"ipmi dry run", []string{"FENCE_METHOD=ipmi", "FENCE_DRY_RUN=1", "FENCE_IPMI_HOST_10_0_0_1=bmc1"}, "10.0.0.1", 0, "-H bmc1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exampleRunner(t, tt.env...)
			res := r.Run(context.Background(), Fence, fence+" %p %f", Vars{NewPrimary: "10.0.0.2", FailedPrimary: tt.failed})
			if res.ExitCode != tt.wantExit || !strings.Contains(res.Output, tt.wantOut) {
				t.Errorf("exit %d output %q; want exit %d and %q", res.ExitCode, res.Output, tt.wantExit, tt.wantOut)
			}
			if (tt.wantExit == 0) != res.OK() {
				t.Errorf("OK() = %v for exit %d", res.OK(), res.ExitCode)
			}
		})
	}
}

func TestExampleLoadBalancer(t *testing.T) {
	lb := exampleScript(t, "load-balancer.sh")
	tests := []struct {
		kind     Kind
		line     string
		typ      string
		wantExit int
		want     []string
	}{
		{LoadBalancerAttach, " attach %h %t", "p", 0, []string{"set server pg_primary/node_10_0_0_3 state ready", "set server pg_standbys/node_10_0_0_3 state maint"}},
		{LoadBalancerAttach, " attach %h %t", "s", 0, []string{"set server pg_standbys/node_10_0_0_3 state ready"}},
		{LoadBalancerDetach, " detach %h %t", "s", 0, []string{"pg_primary/node_10_0_0_3 state maint", "pg_standbys/node_10_0_0_3 state maint"}},
		{LoadBalancerAttach, " attach %h %t", "x", 2, []string{"usage"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.typ, func(t *testing.T) {
			res := exampleRunner(t).Run(context.Background(), tt.kind, lb+tt.line, Vars{Target: "10.0.0.3", TargetType: tt.typ})
			if res.ExitCode != tt.wantExit {
				t.Errorf("exit %d, want %d; output %q", res.ExitCode, tt.wantExit, res.Output)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Output, w) {
					t.Errorf("output %q lacks %q", res.Output, w)
				}
			}
		})
	}
}

func TestExampleNotificationWebhook(t *testing.T) {
	notify := exampleScript(t, "notification.sh")
	got := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			t.Errorf("webhook: %v", err)
		}
		got <- req.PostForm
	}))
	t.Cleanup(srv.Close)
	r := exampleRunner(t, "NOTIFY_WEBHOOK_URL="+srv.URL)
	subject := `[SEVERE] EFM Fencing script error`
	body := "EFM node: 10.0.0.1\n\n$(touch /tmp/x) & 'quoted' @file"
	res := r.Run(context.Background(), Notification, notify, Vars{Subject: subject, Body: body,
		Env: map[string]string{"EFM_NOTIFICATION_LEVEL": "SEVERE"}})
	if !res.OK() {
		t.Fatalf("notification script: %v: %s", res.Err, res.Output)
	}
	form := <-got
	for k, want := range map[string]string{"subject": subject, "body": body, "level": "SEVERE", "cluster": "efm", "node": "10.0.0.1"} {
		if form.Get(k) != want {
			t.Errorf("webhook %s = %q, want %q", k, form.Get(k), want)
		}
	}
}

func TestExamplePostPromotion(t *testing.T) {
	pp := exampleScript(t, "post-promotion.sh")
	res := exampleRunner(t).Run(context.Background(), PostPromotion, pp+" %p %f", Vars{NewPrimary: "10.0.0.2"})
	if !res.OK() || !strings.Contains(res.Output, "10.0.0.2 promoted (old primary: none)") {
		t.Errorf("OK=%v output %q", res.OK(), res.Output)
	}
}

func TestExampleCustomMonitor(t *testing.T) {
	mon := exampleScript(t, "custom-monitor.sh")
	dir := t.TempDir()
	for _, tt := range []struct {
		limit    string
		wantExit int
	}{{"101", 0}, {"0", 1}} {
		r := exampleRunner(t, "MONITOR_MAX_DISK_PCT="+tt.limit)
		res := r.Run(context.Background(), CustomMonitor, mon+" "+dir, Vars{})
		if res.ExitCode != tt.wantExit {
			t.Errorf("limit %s%%: exit %d, want %d (output %q)", tt.limit, res.ExitCode, tt.wantExit, res.Output)
		}
	}
}
