package sim

import (
	"container/heap"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/openefm/efm/internal/core"
)

// event is one scheduled happening in real (simulated) time.
type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simNode is one host: an agent (core.Node) and, unless a witness, a
// database.
type simNode struct {
	idx    int
	id     core.NodeID
	kind   core.Kind
	params core.Params

	agent     *core.Node // nil while the agent is down
	gen       int        // agent incarnation; results for older ones are dropped
	persisted core.Persisted
	role      core.Role
	paused    bool
	buffered  []core.Event
	stopped   bool // stopped cleanly (membership: left)
	stoppedAt time.Duration
	// restartedAt: when the agent came back from a clean stop.
	restartedAt time.Duration
	nodeDown    bool // whole host powered off

	rate float64 // clock rate
	off  time.Duration

	db *fakeDB

	watchdogAt  time.Duration // real time; 0 = disarmed
	watchdogGen int

	view map[core.NodeID]core.MemberState
	// joined: the agent's membership layer has joined the others since it
	// started. Until then its view is itself only (memberlist knows nobody
	// before a join succeeds; docs/membership.md).
	joined    bool
	lastHeard []time.Duration // real time this node last heard each other node
	notes     []core.Notify
	follows   []core.FollowPrimary // with Config.Record
	pgpool    []core.Pgpool        // with Config.Record
	replies   []core.AdminReply

	// probeFault makes this node's VIP and ping.server.ip probes fail
	// (probeFails) or hang until the action's timeout (probeHangs): a probe
	// in doubt. vipSeq is the latest CheckVIP and vipFree whether its
	// result was a clean "no answer", the only one a promotion may follow.
	probeFault probeFault
	vipSeq     uint64
	vipFree    bool
}

type probeFault uint8

const (
	probeOK probeFault = iota
	probeFails
	probeHangs
)

// local converts real time to this node's monotonic clock.
func (n *simNode) local(t time.Duration) time.Duration {
	return n.off + time.Duration(float64(t)*n.rate)
}

// realDur converts a duration measured on this node's clock to real time.
func (n *simNode) realDur(d time.Duration) time.Duration {
	return time.Duration(float64(d) / n.rate)
}

// World is one simulated cluster under one fault schedule.
type World struct {
	cfg   Config
	rng   *rand.Rand
	now   time.Duration
	seq   uint64
	q     eventQueue
	nodes []*simNode
	byID  map[core.NodeID]*simNode
	// conn[a][b]: packets from a reach b. Index len(nodes) is the ping
	// server.
	conn [][]bool

	detect time.Duration // membership failure detection time
	// soloStart: a (re)started agent sees only itself until it can join
	// (the real membership layer). EFM_SIM_GENEROUS_VIEW=1 restores the
	// old model, every member alive at once.
	soloStart  bool
	drop, dup  float64
	delayMin   time.Duration
	delayMax   time.Duration
	reorderPct float64

	tl       []timeline
	maxAcked map[int]core.LSN
	// maxAsync: the highest commit per timeline acknowledged while the
	// primary's num_sync was below SyncK or cleared (reconfigure.num.sync,
	// reconfigure.sync.primary): those may be lost on a failover, and are
	// counted (asyncLost), not checked.
	maxAsync     map[int]core.LSN
	asyncCommits int
	asyncLost    int
	syncChanges  int
	// Followers that streamed through their slot on the new primary, and
	// how many of those slots were there already (kept by slots.go while
	// the new primary was a standby).
	slotFollows, slotsFound int
	nextLSN                 core.LSN

	votes      map[uint64]map[core.NodeID]core.NodeID
	votersAt   map[uint64]int
	promotedIn map[uint64]core.NodeID
	vip        map[core.NodeID]bool
	// priorities are the cluster's set-priority values: the membership
	// layer's shared state, which every joined agent's view carries.
	priorities map[core.NodeID]int

	// routing lists, with Config.Record, every load-balancer script and
	// Pgpool action in order: "<by> <what> <node> [%t]".
	routing []string

	lastDisturb  time.Duration // last fault that can change who reaches whom
	adminUntil   time.Duration // an admin promotion may run until then
	primaryDB    core.NodeID   // database last promoted (or the initial primary)
	primaryDist  time.Duration // last time primaryDB's database or links were disturbed
	quietAt      time.Duration
	faultsOver   bool
	settledAt    time.Duration
	promotions   int
	failovers    int
	ackedCommits int

	// Healing (rejoin.go): RejoinDB that rebuilt a database, and isolated
	// primaries that resumed as primary (EFM 4.5's rule).
	rejoins, resumedPrimaries int

	// Agent stalls of a lease holder (thaw.go in the core): pauses of a
	// holder longer than its lease, thaw rounds started, and thaws after
	// which the node kept its lease.
	longPauses, thaws, thawsKept int

	// refusals: promote orders refused where the coordinator could hear
	// the answer (refusal.go).
	refusals map[refusal]bool

	steps    int
	err      error
	trace    []string
	traceAll bool
}

func (w *World) at(t time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, event{at: t, seq: w.seq, fn: fn})
}

func (w *World) after(d time.Duration, fn func()) { w.at(w.now+d, fn) }

func (w *World) logf(format string, args ...any) {
	if len(w.trace) < 4000 {
		w.trace = append(w.trace, fmt.Sprintf("%9.3fs ", w.now.Seconds())+fmt.Sprintf(format, args...))
	}
}

// fail records the first invariant violation.
func (w *World) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("t=%.3fs: %s", w.now.Seconds(), fmt.Sprintf(format, args...))
		w.logf("VIOLATION: %v", w.err)
	}
}

// Trace returns the schedule and the notable events of the run.
func (w *World) Trace() string { return strings.Join(w.trace, "\n") }

// Steps is how many events the world processed.
func (w *World) Steps() int { return w.steps }

// Err is the first invariant violation, nil if none.
func (w *World) Err() error { return w.err }

// run processes events until the queue is empty, end is reached, or an
// invariant broke.
func (w *World) run(end time.Duration) {
	for w.q.Len() > 0 && w.err == nil {
		e := heap.Pop(&w.q).(event)
		if e.at > end {
			heap.Push(&w.q, e)
			w.now = end
			return
		}
		w.now = e.at
		e.fn()
		w.steps++
		w.checkInstant()
		if w.done() {
			return
		}
	}
}
