package core

import (
	"fmt"
	"strings"
)

// WALReceiverHidden is LocalDBProbe.WALReceiver when a WAL receiver runs but
// db.user may not read its state (pg_stat_wal_receiver shows only its pid
// without pg_read_all_stats).
const WALReceiverHidden = "hidden"

// walStreaming is pg_stat_wal_receiver.status while a standby streams.
const walStreaming = "streaming"

// promoteRefusal is efm promote's pre-check (efm-reference §3, §6): the
// reason to refuse the command, or "" to run it. It runs before anything is
// stopped or fenced. A manual promote or a switchover first makes the
// primary stop and fence its database (MsgSwitchover), and only then does the
// check round find out whom to promote: without a candidate the cluster would
// be left with no primary at all. The check uses the statuses the agents last
// sent (heartbeats, renewals), and the same eligibility rules as the check
// round (pickCandidate); the check round still runs afterwards and has the
// last word.
func (n *Node) promoteRefusal(e AdminPromote) string {
	trig := TriggerManual
	if e.Switchover {
		trig = TriggerSwitchover
	}
	s := n.knownSituation(trig)
	if e.SourceNode != "" {
		if !e.Switchover {
			return "Promotion has not occurred: -sourcenode is only valid with -switchover."
		}
		if why := n.notRunningStandby(s, e.SourceNode); why != "" {
			return fmt.Sprintf("Promotion has not occurred: -sourcenode %s is not a running standby of cluster %s (%s). Running standbys: %s.",
				e.SourceNode, n.p.ClusterName, why, listOrNone(runningStandbys(s)))
		}
	}
	best, v, refusal := pickCandidate(s, n.p)
	if best == "" {
		return strings.TrimSpace("Promotion has not occurred: " + refusal + " " + n.reasons(s, v))
	}
	if !e.Switchover {
		return ""
	}
	n.markNotCaughtUp(&s)
	best, v, _ = pickCandidate(s, n.p)
	if best == "" {
		return fmt.Sprintf("Promotion has not occurred: no promotable standby is caught up with the primary %s (a switchover needs one streaming from it on its timeline). %s",
			n.st.Primary, n.reasons(s, v))
	}
	return ""
}

// fresh: a member whose agent is alive and was heard from within a lease,
// so the status it last sent is current enough to judge it by. Statuses
// come with every heartbeat (every RenewInterval).
func (n *Node) fresh(id NodeID) bool {
	if id == n.p.Self {
		return true
	}
	p, ok := n.members[id]
	return ok && p.member.State == MemberAlive && p.heard && n.now-p.lastSeen <= n.tm.PrimarySilence
}

// knownSituation is Situation as the statuses the agents last sent show it,
// for the pre-check. A database member whose status is not fresh counts as
// not answering.
func (n *Node) knownSituation(trig Trigger) Situation {
	s := Situation{Cluster: n.p.ClusterName, Trigger: trig, Primary: n.st.Primary, Voters: n.numVoters(), Priority: n.priority}
	for _, id := range n.order {
		p := n.members[id]
		if p.member.Kind != KindDatabase {
			continue
		}
		s.Standbys = append(s.Standbys, n.standbyInfo(id, n.statusOf(id), n.fresh(id)))
	}
	return s
}

// statusOf is the last status of id: this node's own, or the one its agent
// last sent.
func (n *Node) statusOf(id NodeID) NodeStatus {
	if id == n.p.Self {
		return n.myStatus()
	}
	return n.members[id].status
}

// markNotCaughtUp records, for every standby, why it is not caught up with
// the primary. Caught up means: its WAL receiver streams, on the primary's
// current timeline, and not from another standby of the cluster (a
// cascaded standby gets the primary's last WAL only second-hand). A
// streaming standby receives everything the primary wrote before its clean
// shutdown: the primary's WAL senders hand over the last WAL before it
// stops. The lag while it runs is not judged here: the statuses were taken at
// different times, and the check round then picks the most advanced standby
// by LSN. A state that cannot be read counts as not caught up.
func (n *Node) markNotCaughtUp(s *Situation) {
	pr := n.st.Primary
	var ptl uint32
	if pr != "" && n.fresh(pr) {
		ptl = n.statusOf(pr).Timeline
	}
	for i := range s.Standbys {
		si := &s.Standbys[i]
		if !si.Answered {
			continue
		}
		st := n.statusOf(si.ID)
		switch {
		case st.WALReceiver == WALReceiverHidden:
			si.NotCaughtUp = "its WAL receiver's state is not visible to db.user (grant it pg_read_all_stats)"
		case st.WALReceiver == "":
			si.NotCaughtUp = "no WAL receiver is running, it does not stream"
		case st.WALReceiver != walStreaming:
			si.NotCaughtUp = fmt.Sprintf("its WAL receiver is %s, not streaming", st.WALReceiver)
		case ptl == 0:
			si.NotCaughtUp = fmt.Sprintf("the timeline of the primary %s is not known", pr)
		case st.Timeline != ptl:
			si.NotCaughtUp = fmt.Sprintf("it receives timeline %d, the primary %s is on timeline %d", st.Timeline, pr, ptl)
		case st.Following != "" && st.Following != pr && n.isDatabaseMember(st.Following):
			si.NotCaughtUp = fmt.Sprintf("it streams from %s, not from the primary %s", st.Following, pr)
		}
	}
}

func (n *Node) isDatabaseMember(id NodeID) bool {
	p, ok := n.members[id]
	return ok && p.member.Kind == KindDatabase
}

// notRunningStandby says why id is not a running standby in s, "" if it is.
func (n *Node) notRunningStandby(s Situation, id NodeID) string {
	for _, si := range s.Standbys {
		if si.ID != id {
			continue
		}
		switch {
		case !si.Answered:
			return n.silence(id)
		case si.Role != RoleStandby:
			return fmt.Sprintf("its agent is %s", si.Role)
		case !si.DBReachable:
			return "its agent cannot reach its database"
		case !si.InRecovery:
			return "its database is not in recovery"
		}
		return ""
	}
	if p, ok := n.members[id]; ok && p.member.Kind != KindDatabase {
		return fmt.Sprintf("it is a %s", p.member.Kind)
	}
	return "no member has this address: give the IP of a standby's bind.address"
}

func runningStandbys(s Situation) []string {
	var out []string
	for _, si := range s.Standbys {
		if si.Answered && si.Role == RoleStandby && si.DBReachable && si.InRecovery {
			out = append(out, string(si.ID))
		}
	}
	return out
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// silence says why a member's status does not count.
func (n *Node) silence(id NodeID) string {
	p := n.members[id]
	switch {
	case p.member.State != MemberAlive:
		return fmt.Sprintf("its agent is %s", p.member.State)
	case !p.heard:
		return "no status from its agent yet"
	}
	return fmt.Sprintf("no status from its agent for %v", n.now-p.lastSeen)
}

// reasons lists why each database node cannot be promoted, for the reply.
func (n *Node) reasons(s Situation, v []Verdict) string {
	var out []string
	for i, vd := range v {
		if vd.Eligible || vd.ID == n.st.Primary && s.Standbys[i].Role == RolePrimary {
			continue // the primary being replaced goes without saying
		}
		why := vd.Why
		if !s.Standbys[i].Answered {
			why = n.silence(vd.ID)
		}
		out = append(out, fmt.Sprintf("%s: %s", vd.ID, why))
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "; ") + "."
}
