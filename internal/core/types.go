package core

import (
	"strconv"

	"github.com/openefm/efm/internal/wal"
)

// NodeID names an agent: the IP string of its bind.address, as EFM uses it in
// notifications and in %p/%f placeholders.
type NodeID string

// Kind is what runs beside an agent.
type Kind uint8

const (
	// KindDatabase is an agent with a local PostgreSQL (primary or standby).
	KindDatabase Kind = iota + 1
	// KindWitness is an agent without database; it votes and checks.
	KindWitness
)

func (k Kind) String() string {
	switch k {
	case KindDatabase:
		return "database"
	case KindWitness:
		return "witness"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MemberState is a member's state as the membership layer reports it.
type MemberState uint8

const (
	// MemberAlive: the member answers.
	MemberAlive MemberState = iota + 1
	// MemberDown: the member failed (or is unreachable). It stays counted in
	// the cluster size until an operator resets members, so a gradual
	// isolation cannot shrink the quorum.
	MemberDown
	// MemberLeft: the agent stopped cleanly. It no longer counts.
	MemberLeft
)

func (s MemberState) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberDown:
		return "DOWN"
	case MemberLeft:
		return "left"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Member is one entry of a membership view.
type Member struct {
	ID    NodeID
	Kind  Kind
	State MemberState
}

// Role is what an agent reports itself as (EFM's agent types).
type Role string

const (
	RolePrimary   Role = "Primary"
	RoleStandby   Role = "Standby"
	RoleWitness   Role = "Witness"
	RoleIdle      Role = "Idle"
	RolePromoting Role = "Promoting"
	// RoleUnknown is the role before the first local probe answered.
	RoleUnknown Role = "Unknown"
)

// LSN is a PostgreSQL WAL position, compared numerically: "0/A" is
// smaller than "0/10" (EFM 4.5 fixed a bug comparing them as strings).
type LSN = wal.LSN

// ParseLSN parses PostgreSQL's "X/Y" notation (two hexadecimal halves).
func ParseLSN(s string) (LSN, error) { return wal.ParseLSN(s) }

// Script names one of EFM's user hooks.
type Script string

const (
	ScriptFence              Script = "script.fence"
	ScriptPostPromotion      Script = "script.post.promotion"
	ScriptRemotePrePromote   Script = "script.remote.pre.promotion"
	ScriptRemotePostPromote  Script = "script.remote.post.promotion"
	ScriptResumed            Script = "script.resumed"
	ScriptDBFailure          Script = "script.db.failure"
	ScriptPrimaryIsolated    Script = "script.primary.isolated"
	ScriptLoadBalancerAttach Script = "script.load.balancer.attach"
	ScriptLoadBalancerDetach Script = "script.load.balancer.detach"
)

// Placeholders are the values the shell substitutes into a script's command
// line (EFM's %p, %f, %h, %t). Empty strings stay empty, as EFM passes an
// empty %f when there was no failed primary.
type Placeholders struct {
	NewPrimary    NodeID // %p
	FailedPrimary NodeID // %f
	Host          NodeID // %h (load balancer scripts)
	Type          string // %t: "p" or "s"
}
