package main

import (
	"net/netip"
	"testing"

	"github.com/openefm/efm/internal/admin"
)

// TestDisallowNodeRequest: the address is read as an IP (the refusals are
// in TestUsageErrors; the effect in TestAllowNodeThroughTheCLI, the
// coordinator's refusal in TestAgentErrorsPrefixedOnce).
func TestDisallowNodeRequest(t *testing.T) {
	got := requestOf(t, "disallow-node", "c", "[fd00::3]")
	if got != (admin.DisallowNodeRequest{Node: netip.MustParseAddr("fd00::3")}) {
		t.Errorf("efm disallow-node c [fd00::3] sends %#v", got)
	}
}
