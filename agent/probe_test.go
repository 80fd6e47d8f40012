package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/fencing"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

// probeScript writes an executable ping.server.command stand-in.
func probeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ping.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// probeShell is a shell whose VIP and ping.server.ip probes run command
// through the real fencing.Manager and the shell's adapters.
func probeShell(t *testing.T, command string, pingTimeout time.Duration) *shell {
	t.Helper()
	const vipAddr, pingIP = "10.231.77.100", "10.231.77.1"
	m, err := fencing.NewManager(fencing.Config{VirtualIP: vipAddr, Interface: "lo", PingCommand: command, PingTimeout: pingTimeout})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	return &shell{log: log, events: make(chan core.Event, 4),
		vip:  &fencingVIP{m: m, log: log, ip: vipAddr},
		ping: &pingServer{m: m, ip: pingIP}}
}

// result runs one action through the shell as the core would have it run
// and returns the event it posts.
func (s *shell) result(t *testing.T, a core.Action) core.Event {
	t.Helper()
	s.execute(context.Background(), []core.Action{a})
	s.wg.Wait()
	select {
	case ev := <-s.events:
		return ev
	default:
		t.Fatalf("%T posted no result", a)
		return nil
	}
}

// TestVIPProbeInDoubtIsNotFree runs real commands: a ping.server.command
// that hangs, or that exits with an error status (ping exits 2 for
// "Network is unreachable", what an isolated node sees), must give a VIP
// result in doubt, never "the VIP does not answer", which would let a
// standby promote while the old primary may still hold the VIP. The same
// for the ping.server.ip probe.
func TestVIPProbeInDoubtIsNotFree(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		pingTimeout time.Duration // fencing's kill of the command
		timeout     time.Duration // the core's bound on the action
		reachable   bool
		doubt       string // substring of the error; "" for an answer
	}{
		{"command hangs, killed at its deadline", "exec sleep 30", 300 * time.Millisecond, 5 * time.Second, false, "did not finish in time"},
		{"command hangs past the action's timeout", "exec sleep 30", 10 * time.Second, 300 * time.Millisecond, false, "deadline exceeded"},
		{"command exits 2", `echo "ping: connect: Network is unreachable" >&2; exit 2`, 5 * time.Second, 5 * time.Second, false, "exit status 2"},
		{"command exits 1: no reply, free", "exit 1", 5 * time.Second, 5 * time.Second, false, ""},
		{"command exits 0: answers", "exit 0", 5 * time.Second, 5 * time.Second, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := probeShell(t, probeScript(t, tc.body)+" -q -c1 -w1", tc.pingTimeout)
			ev := s.result(t, core.CheckVIP{Seq: 7, Timeout: tc.timeout})
			r, ok := ev.(core.VIPResult)
			if !ok || r.Seq != 7 {
				t.Fatalf("CheckVIP posted %#v, want a VIPResult with Seq 7", ev)
			}
			check := func(what string, reachable bool, errText string) {
				t.Helper()
				switch {
				case tc.doubt == "" && (errText != "" || reachable != tc.reachable):
					t.Errorf("%s: reachable %v, error %q; want reachable %v and no error", what, reachable, errText, tc.reachable)
				case tc.doubt != "" && !strings.Contains(errText, tc.doubt):
					t.Errorf("%s: reachable %v, error %q; want in doubt with an error containing %q", what, reachable, errText, tc.doubt)
				}
			}
			check("VIP", r.Reachable, r.Err)
			pev := s.result(t, core.CheckPingServer{Seq: 8, Timeout: tc.timeout})
			p, ok := pev.(core.PingResult)
			if !ok || p.Seq != 8 {
				t.Fatalf("CheckPingServer posted %#v, want a PingResult with Seq 8", pev)
			}
			check("ping.server.ip", p.Reachable, p.Err)
		})
	}
}

// TestProbeDeadlineFromCommand: the core's probe timeout and fencing's kill
// come from what ping.server.command needs, not from remote.timeout:
// EFM's default ping -c3 -w5 with a 2 s remote.timeout must get at least
// its 5 s, or every probe of a VIP that does not answer would be killed
// and read as in doubt.
func TestProbeDeadlineFromCommand(t *testing.T) {
	props := `db.user=efm
db.password.encrypted=0123456789abcdef0123456789abcdef
db.port=5432
db.database=postgres
db.service.owner=postgres
db.bin=/usr/lib/postgresql/15/bin
db.data.dir=/var/lib/postgresql/15/main
bind.address=10.0.0.5:7800
remote.timeout=2
ping.server.command=/bin/ping -q -c3 -w5
`
	cfg, _, err := config.Parse("efm", []byte(props))
	if err != nil {
		t.Fatal(err)
	}
	p := coreParams(cfg)
	if p.ProbeTimeout < 5*time.Second || cfg.PingProbeDeadline() < 5*time.Second {
		t.Errorf("probe timeout %v, fencing deadline %v with remote.timeout=%v; want both at least ping's -w5",
			p.ProbeTimeout, cfg.PingProbeDeadline(), cfg.RemoteTimeout)
	}
	if p.ProbeTimeout <= cfg.PingProbeDeadline() {
		t.Errorf("core probe timeout %v not beyond fencing's %v: a hung command would read as cancelled", p.ProbeTimeout, cfg.PingProbeDeadline())
	}
}
