package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind is one kind of fault the nemesis makes.
type Kind uint8

const (
	// KillPostmaster sends SIGKILL to the target's postmaster; healing
	// starts it again with pg_ctl, as the service owner (systemd) would.
	KillPostmaster Kind = iota + 1
	// KillAgent sends SIGKILL to the target's agent; healing starts it.
	KillAgent
	// KillHost cuts the target's link and SIGKILLs every process in it (a
	// power cut); healing restores the link and starts its postmaster and
	// its agent.
	KillHost
	// FreezeShort stops the target's agent (SIGSTOP) for less than its
	// lease (node.timeout), then SIGCONT.
	FreezeShort
	// FreezeLong stops it for longer than its lease.
	FreezeLong
	// CutLink takes the target's link down; healing brings it up.
	CutLink
	// OneWayLoss makes the target drop every packet from Peer (iptables
	// INPUT -s Peer -j DROP in the target's namespace): Peer still hears
	// the target.
	OneWayLoss
	// PacketLoss drops a random fraction Loss of the target's packets, both
	// ways (iptables statistic match).
	PacketLoss
	// WitnessDown kills the witness's agent for the fault's duration.
	WitnessDown
	// RestartAgent stops the target's agent with SIGTERM and starts it
	// again at once.
	RestartAgent
	// Switchover runs `efm promote -switchover` on the witness.
	Switchover
)

var kindNames = [...]string{"", "kill-postmaster", "kill-agent", "kill-host", "freeze-short", "freeze-long",
	"cut-link", "one-way-loss", "packet-loss", "witness-down", "restart-agent", "switchover"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Role says which host a fault targets; the host itself is chosen when the
// fault is injected, from the cluster's state then (the primary may have
// moved since the schedule was drawn).
type Role uint8

const (
	// RolePrimary is the one database accepting writes.
	RolePrimary Role = iota + 1
	// RoleStandby is a database host other than the primary.
	RoleStandby
	// RoleWitness is the witness host.
	RoleWitness
)

var roleNames = [...]string{"", "primary", "standby", "witness"}

func (r Role) String() string {
	if int(r) < len(roleNames) && r != 0 {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// Fault is one entry of a schedule.
type Fault struct {
	Kind Kind
	At   time.Duration // from the schedule's start
	For  time.Duration // how long it lasts before it is healed; 0: instant
	// Target and Pick choose the host: the Pick-th (modulo) host of the role
	// at injection time. Peer and PeerPick choose OneWayLoss's other end.
	Target   Role
	Pick     int
	Peer     Role
	PeerPick int
	Loss     float64 // PacketLoss's fraction of packets dropped
}

func (f Fault) String() string {
	s := fmt.Sprintf("+%6.2fs %-15s %s#%d", f.At.Seconds(), f.Kind, f.Target, f.Pick)
	switch f.Kind {
	case OneWayLoss:
		s += fmt.Sprintf(" <-x- %s#%d", f.Peer, f.PeerPick)
	case PacketLoss:
		s += fmt.Sprintf(" %.0f%%", f.Loss*100)
	}
	if f.For > 0 {
		s += fmt.Sprintf(" for %.2fs", f.For.Seconds())
	}
	return s
}

// Schedule is a seeded fault schedule for one fresh cluster.
type Schedule struct {
	Seed    uint64
	DBHosts int // 3: primary + 2 standbys + witness; 2: primary + 1 standby + witness
	Length  time.Duration
	Faults  []Fault // by At
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule seed %d: %d databases + witness, %v, %d faults\n", s.Seed, s.DBHosts, s.Length, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

// ScheduleOptions shape NewSchedule's draw.
type ScheduleOptions struct {
	// Length is the time over which faults start; the last one may end
	// after it.
	Length time.Duration
	// Lease is the agents' lease (node.timeout): FreezeShort stays below
	// it, FreezeLong above it.
	Lease time.Duration
	// DBHosts forces the topology (2 or 3); 0 draws it from the seed.
	DBHosts int
	// Kinds, when set, is the only kinds drawn (a negative control's
	// schedule shape).
	Kinds []Kind
	// Target, when set, aims every fault at this role.
	Target Role
}

// weights are how often each kind is drawn.
var weights = []struct {
	k Kind
	w int
}{
	{KillPostmaster, 10}, {KillAgent, 8}, {KillHost, 8}, {FreezeShort, 6}, {FreezeLong, 6}, {CutLink, 12},
	{OneWayLoss, 8}, {PacketLoss, 8}, {WitnessDown, 5}, {RestartAgent, 6}, {Switchover, 6},
}

// NewSchedule draws a schedule from seed: everything random in it comes
// from one math/rand/v2 PCG seeded with seed, so a seed names its schedule.
func NewSchedule(seed uint64, o ScheduleOptions) Schedule {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if o.Lease == 0 {
		o.Lease = 5 * time.Second
	}
	s := Schedule{Seed: seed, Length: o.Length, DBHosts: o.DBHosts}
	if s.DBHosts == 0 {
		s.DBHosts = 2 + r.IntN(2)
	}
	ws := weights
	if len(o.Kinds) > 0 {
		ws = nil
		for _, k := range o.Kinds {
			ws = append(ws, struct {
				k Kind
				w int
			}{k, 1})
		}
	}
	total := 0
	for _, w := range ws {
		total += w.w
	}
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(r.Int64N(int64(hi-lo)+1)).Round(10*time.Millisecond)
	}
	// The cluster starts healthy and the writers need a moment.
	at := between(time.Second, 3*time.Second)
	for at < o.Length {
		n := r.IntN(total)
		var k Kind
		for _, w := range ws {
			if n < w.w {
				k = w.k
				break
			}
			n -= w.w
		}
		f := Fault{Kind: k, At: at, Pick: r.IntN(4)}
		// Which host: the primary half of the time, else a standby, now
		// and then the witness where the kind applies to it.
		switch x := r.IntN(10); {
		case x < 5:
			f.Target = RolePrimary
		case x < 9:
			f.Target = RoleStandby
		default:
			f.Target = RoleWitness
		}
		if o.Target != 0 {
			f.Target = o.Target
		}
		switch k {
		case KillPostmaster:
			if f.Target == RoleWitness {
				f.Target = RoleStandby
			}
			f.For = between(2*time.Second, 10*time.Second)
		case KillAgent:
			f.For = between(time.Second, 8*time.Second)
		case KillHost:
			f.For = between(3*time.Second, 12*time.Second)
		case FreezeShort:
			f.For = between(o.Lease/5, o.Lease*3/5)
		case FreezeLong:
			f.For = between(o.Lease+time.Second, 2*o.Lease)
		case CutLink:
			f.For = between(time.Second, 12*time.Second)
		case OneWayLoss:
			f.For = between(2*time.Second, 10*time.Second)
			f.Peer, f.PeerPick = []Role{RolePrimary, RoleStandby, RoleWitness}[r.IntN(3)], r.IntN(4)
		case PacketLoss:
			f.For = between(3*time.Second, 10*time.Second)
			f.Loss = []float64{0.1, 0.3, 0.5, 0.8}[r.IntN(4)]
		case WitnessDown:
			f.Target = RoleWitness
			f.For = between(2*time.Second, 10*time.Second)
		case RestartAgent:
		case Switchover:
			f.Target = RolePrimary
		}
		s.Faults = append(s.Faults, f)
		// About a third of the faults overlap the next one; the others
		// leave the cluster a few seconds to recover.
		if f.For > 0 && r.IntN(3) == 0 {
			at += between(300*time.Millisecond, f.For)
		} else {
			at += f.For + between(time.Second, 6*time.Second)
		}
	}
	return s
}

// primaryKilling reports whether f, aimed at the primary, may cost the
// cluster its primary database (a failover that leaves the old primary
// fenced while rejoin is off).
func primaryKilling(f Fault) bool {
	switch f.Kind {
	case KillPostmaster, KillHost, CutLink, PacketLoss, OneWayLoss, FreezeLong, Switchover:
		return true
	}
	return false
}
