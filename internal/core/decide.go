package core

import (
	"fmt"
	"sort"

	"github.com/openefm/efm/internal/notify/subject"
)

// StandbyInfo is what the failover coordinator knows about one database
// agent when it chooses whom to promote: its report to the check round, taken
// after its replay was paused.
type StandbyInfo struct {
	ID          NodeID
	Role        Role
	Answered    bool // it answered the check round
	DBReachable bool // its agent reaches its database
	InRecovery  bool
	Promotable  bool // promotable=true and priority > 0
	// Timeline of the WAL it received. A standby on an older timeline
	// missed a promotion: it lacks everything written since, whatever its
	// LSN says (LSNs of different timelines do not compare).
	Timeline    uint32
	ReceivedLSN LSN
	ReplayLSN   LSN
	// NotCaughtUp says why the standby is not caught up with the primary
	// ("" = no objection). Only efm promote -switchover's pre-check sets
	// it (precheck.go): the check round compares LSNs instead.
	NotCaughtUp string
}

// Verdict says why one standby was or was not eligible.
type Verdict struct {
	ID       NodeID
	Eligible bool
	Why      string
}

// ChooseStandby picks the standby to promote (efm-reference §6): among
// promotable, non-Idle standbys whose database is reachable and in recovery,
// the newest timeline, then the highest received LSN; then, with useReplay, the highest replay LSN;
// then the earliest in priority; then the smallest id (so the choice is
// deterministic even when the priority list does not name them). It returns
// "" when nobody is eligible, and a verdict for every standby in input order.
func ChooseStandby(standbys []StandbyInfo, priority []NodeID, useReplay bool) (NodeID, []Verdict) {
	rank := func(id NodeID) int {
		for i, p := range priority {
			if p == id {
				return i
			}
		}
		return len(priority)
	}
	var ok []StandbyInfo
	verdicts := make([]Verdict, 0, len(standbys))
	for _, s := range standbys {
		v := Verdict{ID: s.ID}
		switch {
		case !s.Answered:
			v.Why = "did not answer the check round"
		case s.Role == RoleIdle:
			v.Why = "agent is Idle"
		case s.Role != RoleStandby:
			v.Why = fmt.Sprintf("agent is %s, not Standby", s.Role)
		case !s.Promotable:
			v.Why = "not promotable (promotable=false or priority 0)"
		case !s.DBReachable:
			v.Why = "its agent cannot reach its database"
		case !s.InRecovery:
			v.Why = "database not in recovery"
		case s.NotCaughtUp != "":
			v.Why = "not caught up with the primary: " + s.NotCaughtUp
		default:
			v.Eligible = true
			v.Why = fmt.Sprintf("eligible: timeline %d received %s replayed %s priority %d", s.Timeline, s.ReceivedLSN, s.ReplayLSN, rank(s.ID)+1)
			ok = append(ok, s)
		}
		verdicts = append(verdicts, v)
	}
	if len(ok) == 0 {
		return "", verdicts
	}
	sort.SliceStable(ok, func(i, j int) bool {
		a, b := ok[i], ok[j]
		if a.Timeline != b.Timeline {
			return a.Timeline > b.Timeline
		}
		if a.ReceivedLSN != b.ReceivedLSN {
			return a.ReceivedLSN > b.ReceivedLSN
		}
		if useReplay && a.ReplayLSN != b.ReplayLSN {
			return a.ReplayLSN > b.ReplayLSN
		}
		if ra, rb := rank(a.ID), rank(b.ID); ra != rb {
			return ra < rb
		}
		return a.ID < b.ID
	})
	best := ok[0].ID
	for i := range verdicts {
		if verdicts[i].Eligible && verdicts[i].ID != best {
			verdicts[i].Why += ", but " + string(best) + " is ahead"
		}
		if verdicts[i].ID == best {
			verdicts[i].Why = "chosen, " + verdicts[i].Why
		}
	}
	return best, verdicts
}

// Trigger is why the failover coordinator looks at the primary.
type Trigger uint8

const (
	// TriggerPrimaryDBFailed: the primary's agent reported its database
	// failed, or the primary resigned after fencing.
	TriggerPrimaryDBFailed Trigger = iota + 1
	// TriggerPrimaryLost: the primary's agent is DOWN or silent.
	TriggerPrimaryLost
	// TriggerPrimaryLeft: the primary's agent stopped cleanly and
	// primary.shutdown.as.failure is set.
	TriggerPrimaryLeft
	// TriggerManual: efm promote (auto.failover is ignored).
	TriggerManual
	// TriggerSwitchover: efm promote -switchover; the primary stopped its
	// database on purpose.
	TriggerSwitchover
)

func (t Trigger) String() string {
	return [...]string{"?", "primary database failed", "primary agent lost", "primary agent left",
		"manual promote", "switchover"}[min(int(t), 5)]
}

// Situation is what the coordinator knows after its check round.
type Situation struct {
	Cluster string
	Trigger Trigger
	Primary NodeID // the primary being replaced ("" if none is known)
	// ReachedBy lists the agents that could connect to the primary's
	// database directly (the coordinator itself included).
	ReachedBy []NodeID
	// Voters counts the voting members (database agents and witnesses,
	// DOWN ones included); Connected counts those the coordinator heard
	// from in this round, itself included.
	Voters, Connected int
	Standbys          []StandbyInfo
	Priority          []NodeID
}

// Decision is the coordinator's verdict.
type Decision struct {
	// Candidate is the standby to promote; "" means no failover.
	Candidate NodeID
	Notify    []Notify
	Verdicts  []Verdict
}

// Decide is the "may we fail over, and whom do we promote" rule, applied by
// the failover coordinator once its check round is over (efm-reference §5,
// §6). Safety does not rest on it alone: the promotion still needs a strict
// majority of votes in a new epoch, and the old primary's lease must have run
// out.
func Decide(s Situation, p Params) Decision {
	var d Decision
	note := func(subj subject.Subject, text string) {
		d.Notify = append(d.Notify, Notify{Subject: subj, Cluster: s.Cluster, Text: text})
	}
	c := s.Cluster
	if len(s.ReachedBy) > 0 && s.Trigger != TriggerSwitchover {
		switch s.Trigger {
		case TriggerPrimaryDBFailed:
			note(subject.PrimaryDBStillRunning,
				fmt.Sprintf("The primary database on %s was reported failed, but %v can still connect to it. Failover has not occurred.", s.Primary, s.ReachedBy))
		default:
			note(subject.PrimaryDBStillRunning,
				fmt.Sprintf("The primary agent on %s is gone, but its database is reachable from %v. Failover has not occurred.", s.Primary, s.ReachedBy))
		}
		return d
	}
	// A node that answers as Primary or Promoting: another promotion is
	// running or done since the primary we are replacing failed.
	for _, sb := range s.Standbys {
		if sb.Answered && (sb.Role == RolePromoting || sb.Role == RolePrimary) && s.Trigger != TriggerSwitchover {
			note(subject.PromotionInProgress,
				fmt.Sprintf("%s reports itself %s.", sb.ID, sb.Role))
			return d
		}
	}
	// A database node that answers as writable is a running primary,
	// whoever we thought the primary was: no failover.
	for _, sb := range s.Standbys {
		if sb.Answered && sb.DBReachable && !sb.InRecovery && sb.Role != RoleIdle && s.Trigger != TriggerSwitchover {
			note(subject.PrimaryDBStillRunning,
				fmt.Sprintf("The database on %s accepts writes. Failover has not occurred.", sb.ID))
			return d
		}
	}
	if !strictMajority(s.Connected, s.Voters) {
		note(subject.SubsetDisconnectedFromPrimary,
			fmt.Sprintf("Only %d of %d voting members are connected: no promotion without a majority.", s.Connected, s.Voters))
		return d
	}
	if !p.AutoFailover && s.Trigger != TriggerManual && s.Trigger != TriggerSwitchover {
		note(subject.ManualFailoverRequired,
			fmt.Sprintf("The primary %s has failed (%s) and auto.failover=false: run efm promote %s to fail over.", s.Primary, s.Trigger, c))
		return d
	}
	best, v, refusal := pickCandidate(s, p)
	d.Verdicts = v
	if refusal != "" {
		note(subject.FailoverNotOccurred, refusal)
		return d
	}
	d.Candidate = best
	return d
}

// pickCandidate is who may be promoted: the eligibility rules and the
// candidate order of ChooseStandby, then minimum.standbys. Decide applies it
// to the check round's answers, and efm promote's pre-check (precheck.go) to
// what the agents last reported, so both refuse for the same reasons. It
// returns "" and the reason when nobody may be promoted.
func pickCandidate(s Situation, p Params) (NodeID, []Verdict, string) {
	best, v := ChooseStandby(s.Standbys, s.Priority, p.UseReplayTiebreaker)
	if best == "" {
		return "", v, fmt.Sprintf("No promotable standby for cluster %s (priority list empty or no standby eligible).", s.Cluster)
	}
	eligible := 0
	for _, s := range s.Standbys {
		if s.Answered && s.Role == RoleStandby && s.DBReachable && s.InRecovery {
			eligible++
		}
	}
	// minimum.standbys counts the standbys left once best is primary. A
	// manual switchover is still allowed (efm-reference §1.5).
	if left := eligible - 1; left < p.MinimumStandbys && s.Trigger != TriggerSwitchover {
		return "", v, fmt.Sprintf("No standbys available for promotion (at minimum.standbys): promoting %s would leave %d standbys, minimum.standbys=%d.", best, left, p.MinimumStandbys)
	}
	return best, v, ""
}
