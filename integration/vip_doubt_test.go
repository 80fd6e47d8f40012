package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// TestVIPProbeInDoubtBlocksPromotion: the standby's VIP probe fails (ping
// exits 2, as it does for "Network is unreachable") or hangs past its
// deadline. The primary's postmaster is then killed: the standby is elected
// but must not promote while it cannot tell whether the VIP is still held.
// It warns, gives the candidacy up after check.vip.timeout, and promotes
// once the probe answers again ("retry until it answers").
//
// The standby's ping.server.command is a real script named ping in front
// of the real /bin/ping: it misbehaves only for the VIP while a flag file
// exists, so the agent's start-up self-test and the ping.server.ip check
// keep using ping itself.
func TestVIPProbeInDoubtBlocksPromotion(t *testing.T) {
	for _, mode := range []string{"exit2", "hang"} {
		t.Run(mode, func(t *testing.T) { testVIPProbeInDoubt(t, mode) })
	}
}

func testVIPProbeInDoubt(t *testing.T, mode string) {
	requireHarness(t)
	ctx := context.Background()
	c, err := harness.NewCluster(ctx, t, harness.ClusterOptions{DBHosts: 2, AssignVIP: true,
		Props: map[string]string{"check.vip.timeout": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpAgents(t, c)
		}
	})
	cfg := c.Configs["n2"]
	bin := filepath.Join(cfg.Dir, "bin")
	flag := filepath.Join(cfg.Dir, "vip-probe-fault")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf(`#!/bin/sh
for target; do :; done
if [ "$target" = %q ] && [ -e %q ]; then
	case "$(cat %q)" in
	hang) exec sleep 60 ;;
	*) echo "ping: connect: Network is unreachable" >&2; exit 2 ;;
	esac
fi
exec /bin/ping "$@"
`, c.VIP.String(), flag, flag)
	// Named ping, so the agent derives the probe deadline from its
	// options (-w1: 2 s) as it does for the real one.
	if err := os.WriteFile(filepath.Join(bin, "ping"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Props["ping.server.command"] = filepath.Join(bin, "ping") + " -q -n -c1 -w1"
	if err := cfg.Write(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, []byte(mode), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		t.Fatalf("the cluster never became healthy: %v", err)
	}
	p := c.StartProbe()
	pid, err := c.DB[0].KillPostmaster()
	if err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	t.Logf("killed n1's postmaster (pid %d); n2's VIP probe: %s", pid, mode)

	const (
		warned = "Standby agent cannot verify that the VIP is released"
		gaveUp = "Standby agent tried to promote, but could not verify that the VIP is released"
	)
	notified := func(subject string) bool {
		for _, l := range cfg.Notifications() {
			if strings.Contains(l, subject) {
				return true
			}
		}
		return false
	}
	promoted := false
	err = harness.Eventually(ctx, 120*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if rec, err := c.DB[1].InRecovery(ctx); err == nil && !rec {
			promoted = true
			return true, nil
		}
		return notified(warned) && notified(gaveUp), fmt.Errorf("n2's notifications: %q", cfg.Notifications())
	})
	if promoted {
		t.Fatalf("n2 promoted %v after the kill although its VIP probe was in doubt (%s)", time.Since(fault).Round(time.Millisecond), mode)
	}
	if err != nil {
		t.Fatalf("n2 did not warn and give the promotion up: %v", err)
	}
	t.Logf("measured: n2 gave its candidacy up %v after the kill", time.Since(fault).Round(time.Millisecond))
	if rec, err := c.DB[1].InRecovery(ctx); err != nil || !rec {
		t.Fatalf("n2 left recovery (in recovery %v, err %v) although its VIP probe was in doubt", rec, err)
	}

	// The probe answers again: the cluster's next attempt promotes n2.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	np := newPrimary(ctx, t, c, "n1", 120*time.Second)
	if np != "n2" {
		t.Fatalf("the VIP went to %s, want n2", np)
	}
	t.Logf("measured: n2 took the VIP %v after its probe answered again", time.Since(healed).Round(time.Millisecond))
	pr := p.Stop()
	first, ok := pr.FirstWritable("n2", fault)
	if !ok {
		t.Fatal("the probe never saw n2 writable")
	}
	if first.Before(healed) {
		t.Errorf("n2 accepted a write at %v, before its VIP probe could answer (%v)", first.Format("15:04:05.000"), healed.Format("15:04:05.000"))
	}
}
