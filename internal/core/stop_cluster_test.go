package core

import (
	"strings"
	"testing"
)

// TestStopClusterFollowsEnableStopCluster: efm stop-cluster stops every
// agent, unless enable.stop.cluster=false on the node it reaches: then it
// is refused, naming the property, and nothing is sent or stopped.
func TestStopClusterFollowsEnableStopCluster(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive)...)
		h.n.p.EnableStopCluster = enabled
		acts := h.step(AdminStopCluster{Seq: 7})
		var reply *AdminReply
		exited := false
		for _, a := range acts {
			switch a := a.(type) {
			case AdminReply:
				reply = &a
			case Exit:
				exited = true
			}
		}
		stops := broadcasts(acts, MsgStopCluster)
		switch {
		case reply == nil || reply.Seq != 7:
			t.Errorf("enable.stop.cluster=%v: no answer to the command: %+v", enabled, acts)
		case enabled && (reply.Err != "" || len(stops) != 1 || !exited):
			t.Errorf("enable.stop.cluster=true: reply %+v, %d stop messages, exit %v; want success, the stop sent and the agent exiting", reply, len(stops), exited)
		case !enabled && (!strings.Contains(reply.Err, "enable.stop.cluster=false") || len(stops) != 0 || exited):
			t.Errorf("enable.stop.cluster=false: reply %+v, %d stop messages, exit %v; want a refusal naming the property and nothing stopped", reply, len(stops), exited)
		}
	}
}
