package core

import (
	"encoding/json"
	"fmt"
)

// ProtocolVersion is the version of Message this core speaks. A message with
// another version is refused by Decode with a *VersionError, so mixed
// versions during an upgrade are reported instead of misread.
const ProtocolVersion = 1

// MsgType says what a Message is.
type MsgType string

const (
	// MsgHeartbeat: every agent's status, every RenewInterval. From the
	// primary it is also a lease renewal request (Round set).
	MsgHeartbeat MsgType = "heartbeat"
	// MsgLeaseAck: a voter acknowledges renewal Round of Epoch.
	MsgLeaseAck MsgType = "lease-ack"
	// MsgCheckReq: check Target's database directly and report (Round);
	// with Pause, standbys pause replay and report their LSNs.
	MsgCheckReq MsgType = "check-req"
	// MsgCheckResp answers MsgCheckReq: OK = Target's database reachable.
	MsgCheckResp MsgType = "check-resp"
	// MsgVoteReq asks for a vote for Target (the candidate) in Epoch.
	MsgVoteReq MsgType = "vote-req"
	// MsgVoteResp: OK = vote granted for Target in Epoch.
	MsgVoteResp MsgType = "vote-resp"
	// MsgPromote tells Target it won Epoch and must promote; FailedPrimary
	// is the primary being replaced (may be empty).
	MsgPromote MsgType = "promote"
	// MsgPromoted announces that From finished promoting in Epoch.
	MsgPromoted MsgType = "promoted"
	// MsgResumeReplay ends a selection round: standbys resume replay.
	MsgResumeReplay MsgType = "resume-replay"
	// MsgResign: the primary of Epoch has fenced its database and gives up
	// its lease (database failure, switchover, stop-cluster), or the node
	// elected in Epoch gives that epoch up (its candidacy failed, or it
	// refused the promote order).
	MsgResign MsgType = "resign"
	// MsgDBFailed: From's local database failed (confirmed by nobody
	// reaching it).
	MsgDBFailed MsgType = "db-failed"
	// MsgSwitchover asks the primary to hand over to Target.
	MsgSwitchover MsgType = "switchover"
	// MsgStopCluster: every agent stops.
	MsgStopCluster MsgType = "stop-cluster"
	// MsgFailoverStart: Target (the candidate, From) starts promoting in
	// Epoch. Receivers hold off coordinating (one promotion at a time) and
	// run script.remote.pre.promotion.
	MsgFailoverStart MsgType = "failover-start"
	// MsgSlots carries the primary's replication positions per node
	// (Slots), MsgSlotsReq asks the primary for them (slots.go).
	MsgSlots    MsgType = "slots"
	MsgSlotsReq MsgType = "slots-req"
)

// NodeStatus is what an agent tells others about itself.
type NodeStatus struct {
	Role         Role   `json:"role"`
	Kind         Kind   `json:"kind"`
	DBReachable  bool   `json:"db,omitempty"`
	InRecovery   bool   `json:"rec,omitempty"`
	Promotable   bool   `json:"prom,omitempty"`
	ReceivedLSN  LSN    `json:"recv"`
	ReplayLSN    LSN    `json:"replay"`
	CurrentLSN   LSN    `json:"cur"`
	ReplayPaused bool   `json:"paused,omitempty"`
	Timeline     uint32 `json:"tli,omitempty"`
	Following    NodeID `json:"follow,omitempty"`
	// WALReceiver is LocalDBProbe.WALReceiver: whether a standby streams
	// (efm promote -switchover wants one that does).
	WALReceiver string `json:"wr,omitempty"`
	// App is the node's application.name (its synchronous_standby_names
	// name), for a new primary to list its predecessor (syncrep.go).
	App string `json:"app,omitempty"`
}

// Message is the one envelope every agent-to-agent message uses; fields not
// relevant to Type are empty.
type Message struct {
	V       int     `json:"v"`
	Cluster string  `json:"c"`
	Type    MsgType `json:"t"`
	From    NodeID  `json:"f"`
	// Epoch is the sender's current epoch (for votes: the epoch voted on).
	Epoch   uint64 `json:"e"`
	Primary NodeID `json:"p,omitempty"` // primary of Epoch as the sender knows it
	Round   uint64 `json:"r,omitempty"`
	Target  NodeID `json:"tg,omitempty"`
	OK      bool   `json:"ok,omitempty"`
	Pause   bool   `json:"pause,omitempty"`
	// FailedPrimary is %f for the promotion.
	FailedPrimary NodeID `json:"fp,omitempty"`
	// Fence lists, in MsgPromote, every database node whose database may
	// still be writable (the replaced primary unless it reported itself in
	// recovery, and every database node that did not answer the check
	// round): script.fence runs once for each, as %f.
	Fence      []NodeID    `json:"fence,omitempty"`
	Status     *NodeStatus `json:"s,omitempty"`
	Priority   []NodeID    `json:"prio,omitempty"`
	Switchover bool        `json:"sw,omitempty"`
	Quiet      bool        `json:"q,omitempty"`
	NoScripts  bool        `json:"ns,omitempty"`
	Reason     string      `json:"why,omitempty"`
	// Source, in MsgSwitchover, is efm promote -sourcenode: the standby
	// whose replication settings the old primary copies ("" = the shell's
	// default order, see FollowPrimary).
	Source NodeID `json:"src,omitempty"`
	// Resume, in MsgVoteReq, asks for the vote of an isolated primary
	// that resumes (resume_primary.go): granted only by a voter whose
	// newest epoch names Target as primary.
	Resume bool `json:"res,omitempty"`
	// Aborted, in MsgResumeReplay, says the coordinator gave its failover
	// up (no candidate, no majority): the hold its round set ends.
	Aborted bool `json:"ab,omitempty"`
	// Voters is the sender's count of voting members (vote answers): the
	// coordinator needs a majority of the largest count it hears of.
	Voters int `json:"n,omitempty"`
	// Slots, in MsgSlots, is the primary's position per node (slots.go).
	Slots map[NodeID]LSN `json:"slots,omitempty"`
	// Detach, in MsgPromote, is the old primary the candidate detaches
	// from the load balancers: its agent did not answer the check round
	// (dead or isolated), so nobody else will.
	Detach NodeID `json:"dt,omitempty"`
	// HeardAgent, in MsgCheckResp, says the sender heard Target's agent
	// renew recently (detach.on.agent.failure needs every answer to say
	// no).
	HeardAgent bool `json:"ha,omitempty"`
	// Timeline, on every message, is the newest timeline the sender knows
	// to exist or to be reserved (knownTimeline); receivers keep the
	// largest (timeline.go).
	Timeline uint32 `json:"mtl,omitempty"`
}

// VersionError is returned by Decode for a message of another protocol
// version.
type VersionError struct{ Got, Want int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("agent message protocol version %d, this agent speaks %d", e.Got, e.Want)
}

// ClusterError is returned by Decode for a message of another cluster.
type ClusterError struct{ Got, Want string }

func (e *ClusterError) Error() string {
	return fmt.Sprintf("agent message for cluster %q, this agent is in cluster %q", e.Got, e.Want)
}

// Encode serialises m, stamping the protocol version.
func Encode(m Message) []byte {
	m.V = ProtocolVersion
	b, err := json.Marshal(m)
	if err != nil {
		// Message holds only strings, numbers and bools: cannot happen.
		panic(fmt.Sprintf("encoding agent message %s: %v", m.Type, err))
	}
	return b
}

// Decode parses a message from another agent of cluster.
func Decode(b []byte, cluster string) (Message, error) {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Message{}, fmt.Errorf("decoding agent message (%d bytes): %w", len(b), err)
	}
	if head.V != ProtocolVersion {
		return Message{}, &VersionError{Got: head.V, Want: ProtocolVersion}
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return Message{}, fmt.Errorf("decoding agent message (%d bytes): %w", len(b), err)
	}
	if m.Cluster != cluster {
		return Message{}, &ClusterError{Got: m.Cluster, Want: cluster}
	}
	return m, nil
}
