package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/admin"
)

// requestOf parses a command line as efm does and returns the typed request
// the verb would send to its agent. Nothing is read or asked.
func requestOf(t *testing.T, args ...string) admin.Request {
	t.Helper()
	c := lookup(args[0])
	if c == nil || c.request == nil {
		t.Fatalf("efm %s sends no request to the agent", args[0])
	}
	var errOut bytes.Buffer
	inv, code, ok := c.parse(append(args[1:], "-config-dir", t.TempDir()), strings.NewReader(""), &bytes.Buffer{}, &errOut)
	if !ok {
		t.Fatalf("efm %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return inv.req
}

// TestEveryForwardedVerbSendsItsOwnRequest: each verb that only carries a
// request to the agent sends the request of its own verb.
func TestEveryForwardedVerbSendsItsOwnRequest(t *testing.T) {
	args := map[string][]string{"allow-node": {"10.0.0.1"}, "disallow-node": {"10.0.0.1"}, "set-priority": {"10.0.0.1", "1"}}
	n := 0
	for _, v := range verbs() {
		if commands[v].request == nil {
			continue
		}
		n++
		if req := requestOf(t, append([]string{v, "c"}, args[v]...)...); req.Command() != v {
			t.Errorf("efm %s sends a %s request", v, req.Command())
		}
	}
	if n != 7 {
		t.Errorf("%d verbs forward a request, want the 7 of allow_node.go ... promote.go", n)
	}
}

// lonelyWitness starts a witness agent alone in its cluster and waits until
// it answers with its shared state seeded (itself on the allowed list).
func lonelyWitness(t *testing.T, extra string) (dir string, agent *exec.Cmd) {
	t.Helper()
	dir = witnessConfig(t, extra)
	agent = witnessAgent(t, dir)
	ip := bindIP(t, dir)
	poll(t, 10*time.Second, "the agent answers with its shared state", func() bool {
		s, err := clusterStatus(t, dir)
		return err == nil && len(s.Nodes) == 1 && slices.Contains(s.Allowed, ip)
	})
	return dir, agent
}
