package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// witnessAgent starts `efm agent` for a witness config and stops it at the
// end of the test.
func witnessAgent(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(efmBin, "agent", "efm", "-config-dir", dir)
	cmd.Stderr, _ = os.Create(filepath.Join(dir, "agent.stderr"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "agent.stderr"))
			t.Logf("agent in %s:\n%s", dir, b)
		}
	})
	return cmd
}

var bindRE = regexp.MustCompile(`(?m)^bind.address=(\S+):7800$`)

func bindIP(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "efm.properties"))
	if err != nil {
		t.Fatal(err)
	}
	m := bindRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no bind.address in %s", dir)
	}
	return string(m[1])
}

type statusJSON struct {
	Nodes map[string]struct {
		Type string `json:"type"`
	} `json:"nodes"`
	Allowed     []string `json:"allowednodes"`
	Coordinator string   `json:"membershipcoordinator"`
}

func clusterStatus(t *testing.T, dir string) (statusJSON, error) {
	out, errOut, code := efm(t, "cluster-status-json", "efm", "-config-dir", dir)
	var s statusJSON
	if code != 0 && !strings.HasPrefix(strings.TrimSpace(out), "{") {
		return s, fmt.Errorf("exit %d: %s", code, errOut)
	}
	return s, json.Unmarshal([]byte(out), &s)
}

// TestAllowNodeThroughTheCLI runs real agents (witnesses: no database
// needed) on loopback: a node that is not on the allowed list cannot join;
// efm allow-node on a member lets it in and every member then shows the
// same membership; efm disallow-node takes it off the list again.
func TestAllowNodeThroughTheCLI(t *testing.T) {
	first := witnessConfig(t, "")
	second := witnessConfig(t, "auto.allow.hosts=false\n")
	ip1, ip2 := bindIP(t, first), bindIP(t, second)
	os.WriteFile(filepath.Join(second, "efm.nodes"), []byte(ip1+":7800\n"), 0o644)
	// The first node's .nodes file names only itself: auto.allow.hosts
	// seeds the allowed list with it alone.
	witnessAgent(t, first)
	poll(t, 10*time.Second, "the first agent answers", func() bool {
		s, err := clusterStatus(t, first)
		return err == nil && len(s.Nodes) == 1
	})
	witnessAgent(t, second)

	// Not allowed: the second node must not become a member. A negative is
	// observed over a window: two heartbeats' worth of joining attempts.
	poll(t, 10*time.Second, "the second agent answers alone", func() bool {
		s, err := clusterStatus(t, second)
		return err == nil && s.Nodes[ip2].Type != ""
	})
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s, _ := clusterStatus(t, first); len(s.Nodes) != 1 {
			t.Fatalf("a node that is not on the allowed list joined: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, errOut, code := efm(t, "allow-node", "efm", ip2, "-config-dir", first)
	if code != 0 {
		t.Fatalf("allow-node: exit %d: %s%s", code, out, errOut)
	}
	poll(t, 30*time.Second, "both agents show both members and the same allowed list", func() bool {
		a, err1 := clusterStatus(t, first)
		b, err2 := clusterStatus(t, second)
		if err1 != nil || err2 != nil || len(a.Nodes) != 2 || len(b.Nodes) != 2 {
			return false
		}
		slices.Sort(a.Allowed)
		slices.Sort(b.Allowed)
		return slices.Equal(a.Allowed, b.Allowed) && slices.Contains(a.Allowed, ip2) && a.Coordinator == b.Coordinator
	})

	if _, errOut, code := efm(t, "disallow-node", "efm", ip2, "-config-dir", first); code != 0 {
		t.Fatalf("disallow-node: exit %d: %s", code, errOut)
	}
	poll(t, 30*time.Second, "the allowed list no longer has the second node", func() bool {
		s, err := clusterStatus(t, first)
		return err == nil && !slices.Contains(s.Allowed, ip2)
	})
	if _, errOut, code := efm(t, "allow-node", "efm", "not-an-ip", "-config-dir", first); code == 0 || !strings.Contains(errOut, "not-an-ip") {
		t.Errorf("allow-node of a bad address: exit %d, %q; want an error naming it", code, errOut)
	}
}
