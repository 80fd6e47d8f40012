package config

import (
	"strings"
	"testing"
	"time"
)

// TestProbeDeadline: a probe's deadline comes from what its command needs,
// never from remote.timeout, so EFM's default ping -c3 -w5 is not killed
// (and read as in doubt) at a fast profile's remote.timeout=2.
func TestProbeDeadline(t *testing.T) {
	tests := []struct {
		cmd     string
		want    time.Duration
		derived bool
	}{
		{"/bin/ping -q -c3 -w5", 6 * time.Second, true}, // EFM's default
		{"/bin/ping -q -n -c1 -w1", 2 * time.Second, true},
		{"ping -c 3 -w 5", 6 * time.Second, true},
		{"/usr/bin/ping -qc3 -w5", 6 * time.Second, true},
		{"/bin/ping -c1 -W1", 2 * time.Second, true},
		{"/bin/ping -c3", 13 * time.Second, true}, // 2 × 1 s interval + 10 s wait for a reply
		{"/bin/ping -c3 -i 0.2 -W 2", 3400 * time.Millisecond, true},
		{"/bin/ping6 -c2 -w 1.5", 2500 * time.Millisecond, true},
		{"/bin/ping -I eth0 -c1 -w3", 4 * time.Second, true},
		{"/usr/local/bin/check-vip.sh --fast", DefaultProbeDeadline, false},
		{"/bin/ping -c3 -w5 --weird", DefaultProbeDeadline, false},
		{"/bin/ping -c three", DefaultProbeDeadline, false},
		{"/bin/ping -q 10.0.0.1", DefaultProbeDeadline, false}, // the target is appended: a positional one is not understood
		{"", DefaultProbeDeadline, false},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			got, derived, err := ProbeDeadline(tc.cmd)
			if err != nil || got != tc.want || derived != tc.derived {
				t.Errorf("ProbeDeadline(%q) = %v, %v, %v; want %v, %v, nil", tc.cmd, got, derived, err, tc.want, tc.derived)
			}
		})
	}
	for _, cmd := range []string{"/bin/ping -q", "/bin/ping -n -i 0.5"} {
		if _, _, err := ProbeDeadline(cmd); err == nil || !strings.Contains(err.Error(), "never ends") {
			t.Errorf("ProbeDeadline(%q) error = %v; want one saying it never ends", cmd, err)
		}
	}
}

// TestProbeDeadlineWithFastTimers: the agent's probe deadline for EFM's
// default command with a 2 s remote.timeout covers ping's own 5 s.
func TestProbeDeadlineWithFastTimers(t *testing.T) {
	c, _, err := Parse("efm", []byte(withLine(minimal, "remote.timeout", "2")+"ping.server.command=/bin/ping -q -c3 -w5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.PingProbeDeadline(); d < 5*time.Second {
		t.Errorf("probe deadline %v with remote.timeout=%v; want at least ping's -w5", d, c.RemoteTimeout)
	}
}

// TestProbeChecks: check-conf and the agent's start refuse a ping command
// that never ends when it is used, and warn in one line naming both keys
// when check.vip.timeout is shorter than one probe.
func TestProbeChecks(t *testing.T) {
	const vip = "virtual.ip=10.0.0.100\nvirtual.ip.interface=eth0\n"
	_, _, err := Parse("efm", []byte(minimal+vip+"ping.server.command=/bin/ping -q\n"))
	if err == nil || !strings.Contains(err.Error(), "efm.properties: ping.server.command: value \"/bin/ping -q\" never ends") {
		t.Errorf("endless ping with a VIP: error %v; want one naming ping.server.command", err)
	}
	if _, _, err := Parse("efm", []byte(minimal+"ping.server.command=/bin/ping -q\n")); err != nil {
		t.Errorf("endless ping that is never used refused: %v", err)
	}

	_, warnings, err := Parse("efm", []byte(minimal+vip+"check.vip.timeout=2\n"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, w := range warnings {
		if strings.Contains(w, "check.vip.timeout") {
			lines = append(lines, w)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "ping.server.command") || strings.Contains(lines[0], "\n") {
		t.Errorf("warnings about check.vip.timeout: %q; want one line naming check.vip.timeout and ping.server.command", lines)
	}
	for _, extra := range []string{"check.vip.timeout=6\n", "check.vip.timeout=2\ncheck.vip.before.promotion=false\n"} {
		_, warnings, _ := Parse("efm", []byte(minimal+vip+extra))
		if mentions(warnings, "check.vip.timeout") {
			t.Errorf("with %q: warned %q", extra, warnings)
		}
	}
}
