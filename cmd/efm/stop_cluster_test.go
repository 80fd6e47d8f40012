package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/admin"
)

// TestStopCluster: with enable.stop.cluster=false the command is refused,
// naming the property, and changes nothing (the agent runs, the allowed
// list is kept); by default the agent stops and removes its socket.
func TestStopCluster(t *testing.T) {
	if got := requestOf(t, "stop-cluster", "c"); got != (admin.StopClusterRequest{}) {
		t.Errorf("efm stop-cluster c sends %#v", got)
	}
	refusing, _ := lonelyWitness(t, "enable.stop.cluster=false\n")
	ip := bindIP(t, refusing)
	_, errOut, code := efm(t, "stop-cluster", "efm", "-config-dir", refusing)
	if code != 1 || !strings.Contains(errOut, "enable.stop.cluster=false") {
		t.Errorf("stop-cluster with enable.stop.cluster=false: exit %d, stderr %q; want exit 1 naming the property", code, errOut)
	}
	if s, err := clusterStatus(t, refusing); err != nil || !slices.Contains(s.Allowed, ip) {
		t.Errorf("after a refused stop-cluster: status %+v, err %v; want the agent running, %s still allowed", s, err, ip)
	}

	dir, agent := lonelyWitness(t, "")
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	out, errOut, code := efm(t, "stop-cluster", "efm", "-config-dir", dir)
	if code != 0 || !strings.Contains(out, "Stop cluster command successful") {
		t.Fatalf("stop-cluster: exit %d, stdout %q, stderr %q; want exit 0", code, out, errOut)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("agent exit after stop-cluster: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop after stop-cluster")
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "efm.sock")); err == nil {
		t.Errorf("admin socket left behind after stop-cluster")
	}
}
