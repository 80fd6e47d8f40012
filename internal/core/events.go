package core

// Event is an input to Node.Step. The concrete types below are the only
// implementations.
type Event interface{ isEvent() }

// Start is the first event after New: the agent has started (or restarted;
// its persisted state was given to New).
type Start struct{}

// Tick lets timers fire. Step's now argument carries the time.
type Tick struct{}

// Stopping: the agent is shutting down cleanly (systemctl stop). The core
// answers with its last messages; the shell then leaves the membership.
type Stopping struct{}

// LocalDBProbe is the result of a ProbeLocalDB action (same Seq), or an
// unsolicited probe the shell made (Seq 0).
type LocalDBProbe struct {
	Seq        uint64
	Reachable  bool
	InRecovery bool
	// ReceivedLSN and ReplayLSN are set on a standby
	// (pg_last_wal_receive_lsn, pg_last_wal_replay_lsn); CurrentLSN on a
	// primary (pg_current_wal_lsn).
	ReceivedLSN  LSN
	ReplayLSN    LSN
	CurrentLSN   LSN
	ReplayPaused bool
	// Timeline is the server's timeline ID (a standby: the timeline it
	// receives; a primary: its current one). Newer timelines win over
	// higher LSNs on older ones when choosing whom to promote.
	Timeline uint32
	// Upstream is the host a standby streams from (the host of its
	// primary_conninfo), "" if unknown.
	Upstream NodeID
	// WALReceiver is a standby's WAL receiver state
	// (pg_stat_wal_receiver.status: "streaming", "waiting", ...), ""
	// when no WAL receiver runs, WALReceiverHidden when one runs but
	// db.user may not see its state (it needs pg_read_all_stats).
	WALReceiver string
	// VIPChecked says the shell looked at this node's interface with the
	// probe; VIPHeld is whether the virtual IP was on it. See vip.go.
	VIPChecked bool
	VIPHeld    bool
	// Gone: the shell is certain no server runs here: the connection was
	// refused (or the socket is missing) and no live postmaster of this
	// data directory stands behind postmaster.pid. Anything less certain
	// (a timeout, an authentication error, a server shutting down or
	// starting up) leaves it false: no answer, waited out as EFM does.
	Gone bool
	// Stopped is what the shell read from the data directory of a server
	// it found certainly gone (Gone): zero unless it read it (stopped.go).
	Stopped StoppedDB
	Err     string
}

// MembershipChanged carries the whole current view, self included.
// A member that left cleanly should be reported once with State MemberLeft:
// a voter missing from the view without that counts as DOWN (voters.go).
type MembershipChanged struct {
	Members []Member
	// ResetGen is the membership layer's reset-members generation (its
	// shared state's counter, 0 if unknown). A view with a ResetGen above
	// the one this node last applied (Persisted.ResetGen) follows an efm
	// reset-members: persisted voters absent from it stop counting. It must
	// come with the view built from that shared state (its roster).
	ResetGen uint64
	// Priorities are the cluster's efm set-priority values (1 = first to
	// promote, 0 = never), from the same shared state: the whole set, which
	// replaces what the node had. nil means the view carries no shared
	// state yet (the agent has not joined): the node keeps what it has.
	Priorities map[NodeID]int
}

// MessageReceived is a decoded message from another agent (see Decode).
type MessageReceived struct {
	From NodeID
	Msg  Message
}

// UndecodableMessage reports bytes from From that Decode refused (another
// protocol version, another cluster, garbage); the core notifies about it.
type UndecodableMessage struct {
	From NodeID
	Err  error
}

// RemoteDBResult answers CheckRemoteDB.
type RemoteDBResult struct {
	Seq        uint64
	Node       NodeID
	Reachable  bool
	InRecovery bool
	Err        string
}

// VIPResult answers CheckVIP.
type VIPResult struct {
	Seq       uint64
	Reachable bool
	// Err is set when the probe could not tell (it could not run, was
	// killed at its deadline, or failed): the VIP is in doubt, neither free
	// nor held, and Reachable is ignored.
	Err string
}

// PingResult answers CheckPingServer.
type PingResult struct {
	Seq       uint64
	Reachable bool
	// Err is set when the probe could not tell; Reachable is then ignored.
	Err string
}

// DBOpResult answers DoDB (every DBOp), DoVIP and FollowPrimary.
type DBOpResult struct {
	Seq uint64
	OK  bool
	Err string
	// Diverged (FollowPrimary only): this standby's WAL runs past the
	// primary's fork point, so it cannot stream from it without a rewind
	// (diverged.go).
	Diverged bool
}

// ScriptResult answers RunScript.
type ScriptResult struct {
	Seq      uint64
	Script   Script
	ExitCode int
	Output   string
}

// AdminPromote is `efm promote` (Switchover: -switchover).
type AdminPromote struct {
	Seq        uint64
	Switchover bool
	SourceNode NodeID // -sourcenode
	Quiet      bool   // -quiet: no notifications
	NoScripts  bool   // -noscripts: skip fence and post-promotion scripts
}

// AdminResume is `efm resume`.
type AdminResume struct{ Seq uint64 }

// AdminStopCluster is `efm stop-cluster`.
type AdminStopCluster struct{ Seq uint64 }

// CustomMonitorResult is one failed or timed-out run of
// script.custom.monitor (the shell runs it every custom.monitor.interval
// and reports nothing for a successful run).
type CustomMonitorResult struct {
	Failed   bool // non-zero exit
	TimedOut bool // killed at custom.monitor.timeout: a warning, not a failure
	SafeMode bool // custom.monitor.safe.mode: failures are only reported
	Output   string
}

func (CustomMonitorResult) isEvent() {}
func (Start) isEvent()               {}
func (Tick) isEvent()                {}
func (Stopping) isEvent()            {}
func (LocalDBProbe) isEvent()        {}
func (MembershipChanged) isEvent()   {}
func (MessageReceived) isEvent()     {}
func (UndecodableMessage) isEvent()  {}
func (RemoteDBResult) isEvent()      {}
func (VIPResult) isEvent()           {}
func (PingResult) isEvent()          {}
func (DBOpResult) isEvent()          {}
func (ScriptResult) isEvent()        {}
func (AdminPromote) isEvent()        {}
func (AdminResume) isEvent()         {}
func (AdminStopCluster) isEvent()    {}
