package membership

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
)

// TestSetPriorityValidated: the coordinator accepts set-priority only for
// a database agent of the cluster, whichever member the command reaches,
// and says what it would accept. The value's own rules (an IP address, a
// priority of 0 or more) are the admin protocol's: admin.TestDecodeRefuses.
func TestSetPriorityValidated(t *testing.T) {
	t.Parallel()
	ips := []netip.Addr{takeIP(t), takeIP(t), takeIP(t)}
	var ns []*testNode
	for i, ip := range ips {
		var others []netip.Addr
		for _, o := range ips {
			if o != ip {
				others = append(others, o)
			}
		}
		kind := KindDatabase
		if i == 2 {
			kind = KindWitness
		}
		ns = append(ns, startNode(t, "efm", ip, withJoin(others...), func(c *Config) { c.Kind = kind }))
	}
	waitMembers(t, settle, ns, ns...)
	a, b, w := ns[0], ns[1], ns[2]
	stranger := takeIP(t)
	tests := []struct {
		name    string
		via     *testNode
		node    netip.Addr
		prio    int
		wantErr []string // substrings of the error; nil: accepted
	}{
		{"standby, through the coordinator", a, b.ip, 1, nil},
		{"never promote, forwarded by the witness", w, a.ip, 0, nil},
		{"a node that is not a member", b, stranger, 1, []string{stranger.String(), "not a member of cluster efm", a.Name() + " " + b.Name()}},
		{"the witness", b, w.ip, 1, []string{w.Name(), "witness agent has no database"}},
	}
	for _, tc := range tests {
		err := tc.via.SetPriority(ctxT(t), tc.node, tc.prio)
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != nil && err == nil:
			t.Errorf("%s: accepted, want an error", tc.name)
		case err != nil:
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q does not say %q", tc.name, err, s)
				}
			}
		}
	}
	want := map[string]int{b.Name(): 1, a.Name(): 0}
	for _, n := range ns {
		waitFor(t, settle, n.ip.String()+" has exactly the accepted values", func() (bool, string) {
			got := n.Priorities()
			return maps.Equal(got, want), fmt.Sprint(got)
		})
	}
}
