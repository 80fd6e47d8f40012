package notify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/notify/subject"
)

type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the string attribute key of every record with message msg.
func (h *recordHandler) find(msg, key string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

func baseConfig() Config {
	return Config{
		Cluster: "efm", Node: "10.0.0.1", DatabaseName: "appdb",
		VIP: "10.0.0.100", Hostname: "db1.example",
		Timeout: 10 * time.Second,
	}
}

func TestRender(t *testing.T) {
	failed := hooks.Result{Script: hooks.Fence, Args: []string{"/fence.sh", "10.0.0.2", ""}, ExitCode: 3,
		Output: "ipmi: no route\n", Err: errors.New("exit status 3")}
	timedOut := hooks.Result{Script: hooks.PostPromotion, Args: []string{"/p.sh"}, ExitCode: -1,
		TimedOut: true, Duration: 1500 * time.Millisecond, Err: context.DeadlineExceeded}
	tests := []struct {
		name        string
		cfg         func(*Config)
		msg         Message
		wantSubject string
		wantBody    string
	}{
		{
			name:        "plain, VIP inactive",
			msg:         Message{Subject: subject.FailoverCompleted, Text: "Failover completed; new primary 10.0.0.2."},
			wantSubject: "[WARNING] EFM Failover has completed on cluster efm",
			wantBody:    "EFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP: 10.0.0.100 (Inactive)\n\nFailover completed; new primary 10.0.0.2.\n",
		},
		{
			name: "prefix and VIP active",
			cfg: func(c *Config) {
				c.TextPrefix = "PROD cluster\ncall +1 555\n"
				c.VIPActive = func() bool { return true }
			},
			msg:         Message{Subject: subject.AssigningVIP, Text: "x"},
			wantSubject: "[INFO] EFM Assigning VIP to node 10.0.0.1",
			wantBody:    "PROD cluster\ncall +1 555\nEFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP: 10.0.0.100 (Active)\n\nx\n",
		},
		{
			name:        "no VIP, other node",
			cfg:         func(c *Config) { c.VIP = "" },
			msg:         Message{Subject: subject.UnableToConnectToDB, Node: "10.0.0.7", Text: "too many connections"},
			wantSubject: "[SEVERE] EFM Unable to connect to DB on 10.0.0.7",
			wantBody:    "EFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP support: DISABLED\n\ntoo many connections\n",
		},
		{
			name:        "script results",
			msg:         Message{Subject: subject.FencingScriptError, Text: "Failover has not occurred.", Results: []hooks.Result{failed, timedOut, {Skipped: true}}},
			wantSubject: "[SEVERE] EFM Fencing script error",
			wantBody: "EFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP: 10.0.0.100 (Inactive)\n\nFailover has not occurred." +
				"\n\nScript: /fence.sh 10.0.0.2 ''\nResults:\nexit status: 3\nipmi: no route" +
				"\n\nScript: /p.sh\nResults:\nexit status: -1 (killed at its deadline after 1.5s)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			subj, body := New(cfg, nil, nil).Render(tt.msg)
			if subj != tt.wantSubject {
				t.Errorf("subject %q, want %q", subj, tt.wantSubject)
			}
			if diff := cmp.Diff(tt.wantBody, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]Level{"INFO": Info, "warning": Warning, " Severe ": Severe} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("ERROR"); err == nil || !strings.Contains(err.Error(), "notification.level") {
		t.Errorf("ParseLevel(ERROR) error = %v, want one naming notification.level", err)
	}
	if !(Info < Warning && Warning < Severe) {
		t.Error("levels out of order")
	}
}

func TestSendMail(t *testing.T) {
	srv := newTestSMTP(t, false)
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = " dba@example.com  oncall@example.com "
	cfg.FromEmail = "efm@%h"
	cfg.TextPrefix = "Prefix line"
	h := &recordHandler{}
	n := New(cfg, nil, slog.New(h))
	long := strings.Repeat("x", 2000) // longer than an SMTP line may be
	err := n.Send(context.Background(), Message{Subject: subject.PrimaryDatabaseFailure, Text: "db down\n.\nünïcode " + long})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := srv.mails()
	if len(mails) != 1 {
		t.Fatalf("server got %d mails, want 1", len(mails))
	}
	m := mails[0]
	if want := "[SEVERE] EFM Primary database failure for cluster efm"; m.subject != want {
		t.Errorf("subject %q, want %q", m.subject, want)
	}
	if diff := cmp.Diff([]string{"dba@example.com", "oncall@example.com"}, m.rcpt); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if m.from != "efm@db1.example" || m.header.Get("From") != "efm@db1.example" {
		t.Errorf("envelope from %q, header From %q, want efm@db1.example", m.from, m.header.Get("From"))
	}
	if got := m.header.Get("To"); got != "dba@example.com, oncall@example.com" {
		t.Errorf("To header %q", got)
	}
	if m.helo != "db1.example" {
		t.Errorf("HELO %q, want db1.example", m.helo)
	}
	wantBody := "Prefix line\nEFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP: 10.0.0.100 (Inactive)\n\ndb down\n.\nünïcode " + long + "\n"
	if diff := cmp.Diff(wantBody, m.body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := h.find("notification", "subject"); len(got) != 1 || got[0] != m.subject {
		t.Errorf("logged notification subjects %q, want [%q]", got, m.subject)
	}
}

func TestMailFromWithDisplayName(t *testing.T) {
	srv := newTestSMTP(t, false)
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = "dba@example.com"
	cfg.FromEmail = "EFM on %h <efm@%h>"
	if err := New(cfg, nil, nil).Send(context.Background(), Message{Subject: subject.FailoverCompleted}); err != nil {
		t.Fatal(err)
	}
	m := srv.mails()[0]
	if m.from != "efm@db1.example" || m.header.Get("From") != "EFM on db1.example <efm@db1.example>" {
		t.Errorf("envelope %q header %q", m.from, m.header.Get("From"))
	}
}

func TestMailHeaderInjection(t *testing.T) {
	srv := newTestSMTP(t, false)
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = "dba@example.com"
	n := New(cfg, nil, nil)
	evil := subject.Subject{Level: Severe, Text: "x\r\nBcc: attacker@example.com"}
	if err := n.Send(context.Background(), Message{Subject: evil, Text: "t"}); err != nil {
		t.Fatal(err)
	}
	m := srv.mails()[0]
	if m.header.Get("Bcc") != "" || len(m.rcpt) != 1 {
		t.Errorf("subject injected a header: Bcc=%q rcpt=%v", m.header.Get("Bcc"), m.rcpt)
	}
}

// notifyScript returns a script.notification command that records its
// arguments and level, and a function reading each call's record.
func notifyScript(t *testing.T) (string, func() []string) {
	t.Helper()
	s := filepath.Join(t.TempDir(), "notify.sh")
	// $1 is the --from-efm of the property; subject and body follow it.
	body := "#!/bin/sh\nprintf '%s|%s|%s|%s|%s|%s\\n---\\n' \"$#\" \"$EFM_NOTIFICATION_LEVEL\" \"$EFM_NODE_TYPE\" \"$1\" \"$2\" \"$3\" >> \"$0.calls\"\n"
	if err := os.WriteFile(s, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return s + " --from-efm", func() []string {
		b, err := os.ReadFile(s + ".calls")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		calls := strings.Split(string(b), "\n---\n")
		return calls[:len(calls)-1]
	}
}

func TestScriptDelivery(t *testing.T) {
	cmd, calls := notifyScript(t)
	cfg := baseConfig()
	cfg.ScriptCommand = cmd
	cfg.NodeType = func() string { return "standby" }
	n := New(cfg, &hooks.Runner{SlowThreshold: -1}, nil)
	if err := n.Send(context.Background(), Message{Subject: subject.PromotionStarted, Text: "promoting 10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	got := calls()
	want := "3|WARNING|standby|--from-efm|[WARNING] EFM Promotion has started on cluster efm|EFM node: 10.0.0.1\nCluster name: efm\nDatabase name: appdb\nVIP: 10.0.0.100 (Inactive)\n\npromoting 10.0.0.2\n"
	if len(got) != 1 || got[0] != want {
		t.Errorf("script calls %q, want [%q]", got, want)
	}
}

func TestScriptFailureReported(t *testing.T) {
	cfg := baseConfig()
	cfg.ScriptCommand = "/bin/false"
	h := &recordHandler{}
	n := New(cfg, &hooks.Runner{SlowThreshold: -1}, slog.New(h))
	err := n.Send(context.Background(), Message{Subject: subject.FailoverCompleted})
	if err == nil || !strings.Contains(err.Error(), "script.notification") {
		t.Fatalf("Send error %v, want one naming script.notification", err)
	}
	if len(h.find("notification not delivered", "error")) != 1 {
		t.Error("delivery failure not logged")
	}
}

func TestLevelFilterAndQuiet(t *testing.T) {
	srv := newTestSMTP(t, false)
	cmd, calls := notifyScript(t)
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = "dba@example.com"
	cfg.ScriptCommand = cmd
	cfg.Level = Warning
	h := &recordHandler{}
	n := New(cfg, &hooks.Runner{SlowThreshold: -1}, slog.New(h))
	ctx := context.Background()

	steps := []struct {
		name    string
		quiet   bool
		msg     subject.Subject
		deliver bool
	}{
		{"info below warning", false, subject.AssigningVIP, false},
		{"warning at level", false, subject.FailoverCompleted, true},
		{"severe above level", false, subject.FencingScriptError, true},
		{"quiet suppresses severe", true, subject.FencingScriptError, false},
		{"quiet off again", false, subject.PromotionStarted, true},
	}
	delivered := 0
	for i, st := range steps {
		n.SetQuiet(st.quiet)
		if err := n.Send(ctx, Message{Subject: st.msg, Text: st.name}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.deliver {
			delivered++
		}
		if got := len(srv.mails()); got != delivered {
			t.Errorf("%s: %d mails, want %d", st.name, got, delivered)
		}
		if got := len(calls()); got != delivered {
			t.Errorf("%s: %d script calls, want %d", st.name, got, delivered)
		}
		if got := len(h.find("notification", "subject")); got != i+1 {
			t.Errorf("%s: %d notifications logged, want %d (every one is logged)", st.name, got, i+1)
		}
	}
	n.SetLevel(Info)
	if err := n.Send(ctx, Message{Subject: subject.AssigningVIP}); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.mails()); got != delivered+1 {
		t.Errorf("after SetLevel(Info): %d mails, want %d", got, delivered+1)
	}
}

func TestDeliveryDeadline(t *testing.T) {
	srv := newTestSMTP(t, true) // accepts, never answers
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = "dba@example.com"
	cfg.Timeout = 200 * time.Millisecond
	n := New(cfg, nil, nil)
	start := time.Now()
	err := n.Send(context.Background(), Message{Subject: subject.FailoverCompleted})
	t.Logf("Send against a silent SMTP server returned after %s (timeout %s): %v", time.Since(start), cfg.Timeout, err)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Send error %v, want a timeout", err)
	}
}

func TestMailServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := baseConfig()
	cfg.SMTPAddr = addr
	cfg.UserEmail = "dba@example.com"
	err = New(cfg, nil, nil).Send(context.Background(), Message{Subject: subject.FailoverCompleted})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Send error %v, want one naming %s", err, addr)
	}
}

func TestPostKeepsOrderAndClose(t *testing.T) {
	srv := newTestSMTP(t, false)
	cfg := baseConfig()
	cfg.SMTPAddr = srv.addr()
	cfg.UserEmail = "dba@example.com"
	h := &recordHandler{}
	n := New(cfg, nil, slog.New(h))
	subjects := []subject.Subject{subject.PromotionStarted, subject.ExecutedFencingScript, subject.AssigningVIP, subject.FailoverCompleted}
	for _, s := range subjects {
		n.Post(Message{Subject: s})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mails := srv.mails()
	if len(mails) != len(subjects) {
		t.Fatalf("%d mails, want %d", len(mails), len(subjects))
	}
	for i, s := range subjects {
		if want := "[" + s.Level.String() + "] EFM " + s.Render("10.0.0.1", "efm"); mails[i].subject != want {
			t.Errorf("mail %d subject %q, want %q", i, mails[i].subject, want)
		}
	}
	n.Post(Message{Subject: subject.FailoverCompleted}) // after Close: logged, not sent, no panic
	if len(h.find("notification dropped: notifier closed", "subject")) != 1 {
		t.Error("Post after Close not logged as dropped")
	}
}
