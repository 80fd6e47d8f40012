package main

import (
	"strings"
	"testing"

	"github.com/openefm/efm/internal/admin"
)

// TestResetMembers: the request carries nothing; the coordinator applies
// it and the command prints the agent's answer.
func TestResetMembers(t *testing.T) {
	if got := requestOf(t, "reset-members", "c"); got != (admin.ResetMembersRequest{}) {
		t.Errorf("efm reset-members c sends %#v", got)
	}
	dir, _ := lonelyWitness(t, "")
	if out, errOut, code := efm(t, "reset-members", "efm", "-config-dir", dir); code != 0 || strings.TrimSpace(out) != "Reset members completed." {
		t.Errorf("reset-members: exit %d, stdout %q, stderr %q; want exit 0 and the agent's answer", code, out, errOut)
	}
}
