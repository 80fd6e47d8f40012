package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is one member as this node sees it.
type Member struct {
	Name string // bind IP: the node's identity
	Addr string // ip:port peers dial
	Kind Kind
	// State is what the member reports (Primary, Standby, Witness, Idle),
	// or DOWN when no heartbeat round trip with it started in the last
	// Timing.Window (a member that joined gets one window of grace; one
	// known only from the coordinator's roster is DOWN until it answers).
	State string
	// Voting is true for every kind today (database agents and witnesses).
	Voting bool
	// Reachable: a heartbeat round trip with it started less than
	// Timing.Window ago (always true for this node itself).
	Reachable bool
	// Self marks this node's own entry.
	Self bool
	// Since is when State last changed, on this node's monotonic clock.
	Since time.Time
}

// Quorum is this node's view of the voting members.
type Quorum struct {
	Voters    int  // this node + every member not left (DOWN ones included)
	Reachable int  // this node + members with a recent heartbeat round trip
	Majority  bool // Reachable > Voters/2
	Half      bool // 2*Reachable == Voters exactly
	// Since is when the (Majority, Half) pair last changed, as first
	// observed on this node's monotonic clock.
	Since time.Time
	// Settled: the initial join attempt is over and the shared state was
	// loaded from a member or seeded here as the first member. Before
	// that a starting node sees only itself (1 of 1): do not act on it.
	Settled bool
}

// Message is an application message from another member.
type Message struct {
	From     string
	Payload  []byte
	Reliable bool
}

// EventType names a membership event.
type EventType string

// Event types.
const (
	EventJoin        EventType = "join"     // a member appeared
	EventLeave       EventType = "leave"    // a member left cleanly or was reset away
	EventDown        EventType = "down"     // a member turned DOWN
	EventUpdate      EventType = "update"   // a member's state changed (including back from DOWN)
	EventQuorum      EventType = "quorum"   // Majority/Half changed
	EventShared      EventType = "shared"   // allowed list, priority list or coordinator changed
	EventRejected    EventType = "rejected" // this node was refused by the cluster
	EventStopRequest EventType = "stop"     // stop-cluster was requested
)

// Event is sent on Events(); events can be dropped if nobody reads (logged).
type Event struct {
	Type   EventType
	Member Member
	Quorum Quorum
	Reason string
}

// Membership is one node's membership in the cluster.
type Membership struct {
	cfg *resolved
	log *slog.Logger
	t   Timing
	// mlRaw is set once memberlist.Create returns; memberlist may call our
	// delegates before that, so everything reaches it through list().
	mlRaw *memberlist.Memberlist
	ready chan struct{}

	mu          sync.Mutex
	self        nodeMeta
	selfSince   time.Time
	peers       map[string]*peer
	localLeft   map[string]bool
	answered    map[string]time.Time
	state       *sharedState
	joined      bool // initial join attempt finished
	seeded      bool // this node created the shared state as the first member
	seq         uint64
	pending     map[uint64]pendingHB
	qClass      int
	qSince      time.Time
	lastQClass  int
	forceNodes  bool
	nodesDirty  bool
	lastView    map[string]Member
	lastVersion uint64
	lastCoord   string
	lastNodes   string
	rejected    string
	rejectedAt  time.Time
	rejectSent  map[string]time.Time
	leaving     bool
	reqID       uint64
	waiters     map[uint64]chan error
	joining     map[string]bool

	events chan Event
	msgs   chan Message
	stopCh chan struct{}
	stop   sync.Once
	kick   chan struct{}
	done   chan struct{}
	life   sync.Mutex // serialises memberlist Leave and Shutdown (Leave after Shutdown panics)
	shut   bool
	wg     sync.WaitGroup
}

type peer struct {
	addr      string
	meta      nodeMeta
	mlAlive   bool      // memberlist has it alive
	leaving   bool      // it told us it is leaving
	firstSeen time.Time // last (re)join, grace before DOWN without heartbeat
	lastRT    time.Time // send time of the newest acknowledged heartbeat
	shown     string
	since     time.Time
}

type pendingHB struct {
	to   string
	sent time.Time
}

// New starts memberlist on cfg.BindAddr and joins the cluster in the
// background; it returns once the node listens.
func New(cfg Config) (*Membership, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	m := &Membership{
		cfg: r,
		log: r.logger,
		t:   r.timing,
		self: nodeMeta{Cluster: r.Cluster, Kind: r.Kind, State: defaultState(r.Kind), Started: r.Started.UnixNano(),
			NodeTimeoutMS: r.timing.NodeTimeout.Milliseconds()},
		selfSince:  now,
		peers:      map[string]*peer{},
		localLeft:  map[string]bool{},
		answered:   map[string]time.Time{},
		state:      &sharedState{Roster: map[string]rosterEntry{}},
		pending:    map[uint64]pendingHB{},
		qSince:     now,
		qClass:     -1,
		lastQClass: -1,
		lastView:   map[string]Member{},
		rejectSent: map[string]time.Time{},
		waiters:    map[uint64]chan error{},
		joining:    map[string]bool{},
		events:     make(chan Event, 256),
		msgs:       make(chan Message, 1024),
		stopCh:     make(chan struct{}),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		ready:      make(chan struct{}),
	}
	m.lastNodes = readNodesFile(r.NodesFile) // rewrite only what differs
	mc := r.memberlistConfig()
	d := &delegate{m: m}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Merge = d
	mc.Conflict = d
	mc.Logger = newMemberlistLogger(m.log)
	ml, err := memberlist.Create(mc)
	m.mlRaw = ml
	close(m.ready)
	if err != nil {
		return nil, fmt.Errorf("starting memberlist on %s: %w", cfg.BindAddr, err)
	}
	m.log.Info("membership started", "bind", cfg.BindAddr, "advertise", r.selfAddr(),
		"kind", r.Kind, "encrypt", r.Encrypt, "node_timeout", r.timing.NodeTimeout,
		"heartbeat", r.timing.Heartbeat, "isolation_bound", r.timing.IsolationBound())
	m.wg.Add(2)
	go m.initialJoin()
	go m.loop()
	return m, nil
}

// list waits until memberlist.Create has returned: messages can arrive
// (and delegates run) while it is still starting.
func (m *Membership) list() *memberlist.Memberlist {
	<-m.ready
	return m.mlRaw
}

// Name is this node's identity (its bind IP).
func (m *Membership) Name() string { return m.cfg.name }

// Timing returns the intervals derived from NodeTimeout.
func (m *Membership) Timing() Timing { return m.t }

// IsolationBound is Timing().IsolationBound(): computable from NodeTimeout
// alone, on every node.
func (m *Membership) IsolationBound() time.Duration { return m.t.IsolationBound() }

// Events delivers membership events.
func (m *Membership) Events() <-chan Event { return m.events }

// Messages delivers application messages sent with Send/SendBestEffort.
func (m *Membership) Messages() <-chan Message { return m.msgs }

// StopRequested is closed when stop-cluster was requested.
func (m *Membership) StopRequested() <-chan struct{} { return m.stopCh }

// Rejected returns why the cluster refused this node, or "" if it did not.
func (m *Membership) Rejected() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rejected
}

// SetLocalState sets the state this node reports (Primary, Standby,
// Witness, Idle) and gossips it.
func (m *Membership) SetLocalState(s string) {
	m.mu.Lock()
	changed := m.self.State != s
	if changed {
		m.self.State = s
		m.selfSince = time.Now()
	}
	m.mu.Unlock()
	if changed {
		go func() {
			if err := m.list().UpdateNode(m.t.TCPTimeout); err != nil {
				m.log.Debug("gossiping local state", "state", s, "err", err)
			}
		}()
		m.poke()
	}
}

// Leave tells every member that this node is leaving cleanly (so it stops
// counting in the cluster size), leaves memberlist and shuts down.
func (m *Membership) Leave(timeout time.Duration) error {
	m.mu.Lock()
	if m.leaving {
		m.mu.Unlock()
		return nil
	}
	m.leaving = true
	var targets []*memberlist.Node
	for name, p := range m.peers {
		if p.mlAlive {
			if n, err := nodeFor(name, p.addr); err == nil {
				targets = append(targets, n)
			}
		}
	}
	m.mu.Unlock()
	deadline := time.Now().Add(timeout)
	notice := encode(msgLeaving, m.cfg.name, nil)
	var wg sync.WaitGroup
	for _, n := range targets {
		wg.Go(func() {
			if err := m.list().SendReliable(n, notice); err != nil {
				m.log.Warn("telling a member we leave", "member", n.Name, "err", err)
			}
		})
	}
	waitUntil(&wg, deadline)
	m.life.Lock()
	var err error
	if !m.shut {
		if err = m.list().Leave(max(time.Until(deadline), m.t.Heartbeat)); err != nil {
			err = fmt.Errorf("leaving cluster %s: %w", m.cfg.Cluster, err)
		}
		m.log.Info("left the cluster")
	}
	m.life.Unlock()
	return errors.Join(err, m.Shutdown())
}

// Shutdown stops this node without telling anyone (peers see it fail).
func (m *Membership) Shutdown() error {
	m.life.Lock()
	if m.shut {
		m.life.Unlock()
		return nil
	}
	m.shut = true
	close(m.done)
	err := m.list().Shutdown()
	m.life.Unlock()
	m.wg.Wait()
	if err != nil {
		return fmt.Errorf("shutting down memberlist: %w", err)
	}
	return nil
}

func waitUntil(wg *sync.WaitGroup, deadline time.Time) {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(time.Until(deadline)):
	}
}

func (m *Membership) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Membership) emit(e Event) {
	select {
	case m.events <- e:
	default:
		m.log.Warn("membership event dropped: nobody reads Events()", "event", e.Type, "member", e.Member.Name)
	}
}

// nodeFor builds a memberlist node to address a message to.
func nodeFor(name, addr string) (*memberlist.Node, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("member %s address %q: %w", name, addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("member %s address %q: %w", name, addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("member %s address %q: not an IP", name, addr)
	}
	return &memberlist.Node{Name: name, Addr: ip, Port: uint16(port)}, nil
}

// initialJoin tries every .nodes address once, in parallel, before this
// node may seed shared state as the first member.
func (m *Membership) initialJoin() {
	defer m.wg.Done()
	targets := m.cfg.joinTargets
	var wg sync.WaitGroup
	ok := make(chan string, len(targets))
	for _, a := range targets {
		wg.Go(func() {
			if _, err := m.list().Join([]string{a}); err != nil {
				m.log.Info("could not join through address", "address", a, "err", err)
				return
			}
			ok <- a
		})
	}
	wg.Wait()
	close(ok)
	n := len(ok)
	m.mu.Lock()
	m.joined = true
	m.mu.Unlock()
	if len(targets) > 0 && n == 0 {
		m.log.Warn("no address of the nodes file answered: starting as the first member", "addresses", targets)
	}
	m.poke()
}

// ctxDone is a small helper for select on optional contexts.
func ctxDone(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}
