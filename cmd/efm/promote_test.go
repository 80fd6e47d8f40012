package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/admin"
)

// TestPromoteRequest: EFM's options become the typed request (the option
// combinations refused are in TestUsageErrors and TestArgumentErrors).
func TestPromoteRequest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want admin.PromoteRequest
	}{
		{nil, admin.PromoteRequest{}},
		{[]string{"-noscripts"}, admin.PromoteRequest{NoScripts: true}},
		{[]string{"-switchover"}, admin.PromoteRequest{Switchover: true}},
		{[]string{"-switchover", "-sourcenode", "10.0.0.3", "-quiet", "-noscripts"},
			admin.PromoteRequest{Switchover: true, SourceNode: netip.MustParseAddr("10.0.0.3"), Quiet: true, NoScripts: true}},
	} {
		if got := requestOf(t, append([]string{"promote", "c"}, tc.args...)...); got != tc.want {
			t.Errorf("efm promote c %s sends %#v, want %#v", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// TestPromoteRefusedByTheAgent: a witness has nothing to promote; the
// core's refusal comes back as the agent's error and the command exits 1.
func TestPromoteRefusedByTheAgent(t *testing.T) {
	dir, _ := lonelyWitness(t, "")
	out, errOut, code := efm(t, "promote", "efm", "-config-dir", dir)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Received error from local agent: Promotion has not occurred") {
		t.Errorf("promote on a lone witness: exit %d, stdout %q, stderr %q; want exit 1 and the core's refusal", code, out, errOut)
	}
}
