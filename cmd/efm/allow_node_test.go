package main

import (
	"net/netip"
	"testing"

	"github.com/openefm/efm/internal/admin"
)

// TestAllowNodeRequest: the address is read as an IP, brackets allowed
// around IPv6 (the refusals are in TestUsageErrors; the effect on a
// running cluster in TestAllowNodeThroughTheCLI).
func TestAllowNodeRequest(t *testing.T) {
	for arg, want := range map[string]string{"10.0.0.3": "10.0.0.3", "[fd00::3]": "fd00::3", "fd00::3": "fd00::3"} {
		got := requestOf(t, "allow-node", "c", arg)
		if got != (admin.AllowNodeRequest{Node: netip.MustParseAddr(want)}) {
			t.Errorf("efm allow-node c %s sends %#v", arg, got)
		}
	}
}
