package main

import (
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/admin"
)

// TestResume: the request carries nothing; an agent that is not Idle says
// there is nothing to resume (exit 1), an Idle one resumes (exit 0).
func TestResume(t *testing.T) {
	if got := requestOf(t, "resume", "c"); got != (admin.ResumeRequest{}) {
		t.Errorf("efm resume c sends %#v", got)
	}
	wit, _ := lonelyWitness(t, "")
	if _, errOut, code := efm(t, "resume", "efm", "-config-dir", wit); code != 1 || !strings.Contains(errOut, "not Idle: nothing to resume") {
		t.Errorf("resume on a witness: exit %d, stderr %q; want exit 1, nothing to resume", code, errOut)
	}

	db := databaseConfig(t, "") // its database does not run: the agent is Idle
	witnessAgent(t, db)
	poll(t, 30*time.Second, "the database agent is Idle", func() bool {
		s, err := clusterStatus(t, db)
		return err == nil && s.Nodes[bindIP(t, db)].Type == "Idle"
	})
	if out, errOut, code := efm(t, "resume", "efm", "-config-dir", db); code != 0 || !strings.Contains(out, "Resume command successful") {
		t.Errorf("resume on an Idle agent: exit %d, stdout %q, stderr %q; want exit 0", code, out, errOut)
	}
}
