package membership

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCoordinatorHandOverKeepsSharedState: the allowed list and the
// set-priority values are cluster state: they survive the coordinator's
// departure (the next oldest member serves them) and a restarted agent
// reloads them.
func TestCoordinatorHandOverKeepsSharedState(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	a, b, c := ns[0], ns[1], ns[2]
	prio := map[string]int{c.Name(): 1, b.Name(): 0}
	extraIP := takeIP(t)
	extra := extraIP.String()
	// Every change goes through c, which forwards it to a.
	for _, n := range []*testNode{c, b} {
		if err := c.SetPriority(ctxT(t), n.ip, prio[n.Name()]); err != nil {
			t.Fatalf("set-priority %s through c: %v", n.ip, err)
		}
	}
	if err := c.AllowNode(ctxT(t), extraIP); err != nil {
		t.Fatalf("allow-node through c: %v", err)
	}
	for _, n := range ns {
		waitFor(t, settle, n.ip.String()+" has the new shared state", func() (bool, string) {
			return maps.Equal(n.Priorities(), prio) && slices.Contains(n.Allowed(), extra),
				fmt.Sprintf("allowed %v priorities %v", n.Allowed(), n.Priorities())
		})
	}
	before := b.Status().Version

	if err := a.Leave(2 * time.Second); err != nil {
		t.Fatalf("coordinator a leaves: %v", err)
	}
	for _, n := range []*testNode{b, c} {
		waitFor(t, settle, n.ip.String()+" hands over to b, the next oldest", func() (bool, string) {
			return n.Coordinator() == b.Name(), n.Coordinator()
		})
		if !maps.Equal(n.Priorities(), prio) || !slices.Contains(n.Allowed(), extra) {
			t.Errorf("%s lost shared state in the hand-over: allowed %v priorities %v", n.ip, n.Allowed(), n.Priorities())
		}
	}
	// The new coordinator serves changes and continues the version count.
	if err := c.DisallowNode(ctxT(t), extraIP); err != nil {
		t.Fatalf("disallow-node through c after the hand-over: %v", err)
	}
	prio[c.Name()] = 2
	if err := c.SetPriority(ctxT(t), c.ip, 2); err != nil {
		t.Fatalf("set-priority through c after the hand-over: %v", err)
	}
	waitFor(t, settle, "c sees the changes made by b", func() (bool, string) {
		return !slices.Contains(c.Allowed(), extra) && maps.Equal(c.Priorities(), prio),
			fmt.Sprintf("allowed %v priorities %v", c.Allowed(), c.Priorities())
	})
	if v := c.Status().Version; v <= before {
		t.Errorf("shared state version %d after the hand-over, want > %d", v, before)
	}

	// Restarted agents reload the values from the coordinator: a, the old
	// coordinator, then c, whose own priority was set.
	a2 := startNode(t, "efm", a.ip, withJoin(b.ip, c.ip), func(cfg *Config) { cfg.AutoAllowHosts = false })
	waitMembers(t, settle, []*testNode{a2, b, c}, a2, b, c)
	waitFor(t, settle, "restarted a reloads the priorities", func() (bool, string) {
		return maps.Equal(a2.Priorities(), prio), fmt.Sprint(a2.Priorities())
	})
	if got := a2.Coordinator(); got != b.Name() {
		t.Errorf("restarted a sees coordinator %s, want b (a is now the youngest)", got)
	}
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("c leaves: %v", err)
	}
	waitMembers(t, settle, []*testNode{a2, b}, a2, b)
	c2 := startNode(t, "efm", c.ip, withJoin(a.ip, b.ip), func(cfg *Config) { cfg.AutoAllowHosts = false })
	waitMembers(t, settle, []*testNode{a2, b, c2}, a2, b, c2)
	waitFor(t, settle, "restarted c reloads its own priority", func() (bool, string) {
		return maps.Equal(c2.Priorities(), prio), fmt.Sprint(c2.Priorities())
	})
}

func TestNodesFileRewrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	aIP, bIP, cIP := takeIP(t), takeIP(t), takeIP(t)
	aFile := filepath.Join(dir, "a.nodes")
	cFile := filepath.Join(dir, "c.nodes")
	orig := "# hand written\n" + addrOf(aIP) + "\n"
	if err := os.WriteFile(cFile, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	nodesFile := func(p string, stable bool) nodeOpt {
		return func(c *Config) { c.NodesFile, c.StableNodesFile = p, stable }
	}
	a := startNode(t, "efm", aIP, withJoin(bIP, cIP), nodesFile(aFile, false))
	b := startNode(t, "efm", bIP, withJoin(aIP))
	c := startNode(t, "efm", cIP, withJoin(aIP), nodesFile(cFile, true))
	waitMembers(t, settle, []*testNode{a, b, c}, a, b, c)
	want := []string{addrOf(bIP), addrOf(cIP)}
	slices.Sort(want)
	waitFor(t, settle, "a rewrites its nodes file", func() (bool, string) {
		got, err := os.ReadFile(aFile)
		if err != nil {
			return false, err.Error()
		}
		lines := strings.Split(strings.TrimSpace(string(got)), "\n")
		last := lines[len(lines)-1]
		ok := strings.HasPrefix(lines[0], "#") && slices.Equal(strings.Fields(last), want) &&
			!strings.Contains(string(got), addrOf(aIP))
		return ok, string(got)
	})
	if got, _ := os.ReadFile(cFile); string(got) != orig {
		t.Errorf("stable nodes file was rewritten:\n%s", got)
	}
	// reset-members rewrites it even with stable.nodes.file.
	if err := c.ResetMembers(ctxT(t)); err != nil {
		t.Fatalf("reset-members: %v", err)
	}
	waitFor(t, settle, "reset rewrites the stable nodes file", func() (bool, string) {
		got, _ := os.ReadFile(cFile)
		return strings.Contains(string(got), addrOf(bIP)) && !strings.Contains(string(got), addrOf(cIP)), string(got)
	})
	// A write may be under way right now; a leftover would stay forever.
	waitFor(t, settle, "no temporary file left behind", func() (bool, string) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				return false, e.Name()
			}
		}
		return true, ""
	})
}

func TestStopCluster(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	if err := ns[1].SetPriority(ctxT(t), ns[2].ip, 1); err != nil {
		t.Fatalf("set-priority: %v", err)
	}
	if err := ns[2].StopCluster(ctxT(t)); err != nil {
		t.Fatalf("stop-cluster through a non-coordinator: %v", err)
	}
	for _, n := range ns {
		select {
		case <-n.StopRequested():
		case <-time.After(settle):
			t.Fatalf("%s was not asked to stop", n.ip)
		}
		waitFor(t, settle, n.ip.String()+" clears the allowed list and the priorities", func() (bool, string) {
			return len(n.Allowed()) == 0 && len(n.Priorities()) == 0, fmt.Sprintf("allowed %v priorities %v", n.Allowed(), n.Priorities())
		})
	}
}
