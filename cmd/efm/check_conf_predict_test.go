package main

import (
	"strings"
	"testing"
)

// TestCheckConfPredictions: a valid configuration is followed by one line
// per predicted time, computed from the file's timers; the valid line and
// the exit code stay as they were.
func TestCheckConfPredictions(t *testing.T) {
	// The witness file sets node.timeout=5 and leaves the other timers at
	// EFM's defaults: lease 5 s, renewal interval 1 s, fencing allowance
	// 1.25 s, tick min(1 s/4, local.period 10 s/4) = 0.25 s,
	// remote.timeout 10 s (a connection to a lost host times out at 5 s).
	dir := witnessConfig(t, "ping.server.ip=\n")
	out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", dir)
	if code != 0 {
		t.Fatalf("check-conf: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || !strings.HasSuffix(lines[0], `configuration of cluster "efm" is valid.`) {
		t.Fatalf("first line is not the valid line:\n%s", out)
	}
	for _, want := range []string{
		// 5 (lease) + 0.25 (tick) + 5 (remote.timeout/2); no ping server, no VIP.
		"  primary host lost: writes on a new primary within 10.25 s (no renewal for one lease (lease = node.timeout unless set) 5 s + one tick 0.25 s + connect to its database times out (remote.timeout/2) 5 s)",
		// 5 - 1.25 + 0.25
		"  primary isolated: old primary stops taking writes within 4 s (lease 5 s - fencing allowance",
		// 3 checks of local.period 10 + the coordinator's tick
		"  primary database crash: writes on a new primary within 30.25 s (3 checks find no postmaster (3*local.period) 30 s",
		// local.timeout 60 + tick + local.timeout.final 10 + the coordinator's tick
		"  primary database not answering: writes on a new primary within 70.5 s (local.timeout without a successful check 60 s",
		"  standby lost: reported",
		// 5 - 1.25 - 1
		"  network stall: tolerated without a failover up to 2.75 s (lease 5 s - fencing allowance 1.25 s - renewal interval (lease/5) 1 s)",
		"  primary agent pause: keeps its lease without a thaw round up to 2.75 s",
		// 5 - 2 heartbeats of 0.5 s
		"  standby agent pause: tolerated without being reported failed up to 4 s",
	} {
		if !strings.Contains(out, "\n"+want) {
			t.Errorf("no line starting %q in:\n%s", want, out)
		}
	}
}
