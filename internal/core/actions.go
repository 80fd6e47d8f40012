package core

import (
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// Action is an output of Node.Step for the shell to perform, in order.
type Action interface{ isAction() }

// Send delivers Msg to To. The core decides who receives a message sent
// to several members and emits one Send for each (Node.broadcast).
// Delivery is best effort: the core tolerates loss, duplicates and
// reordering.
type Send struct {
	To  NodeID
	Msg Message
}

// Persist stores State durably. The shell must finish it (fsync) before it
// executes any later action of the same batch.
type Persist struct{ State Persisted }

// ProbeLocalDB connects to the local database and reports LocalDBProbe
// within Timeout.
type ProbeLocalDB struct {
	Seq     uint64
	Timeout time.Duration
	// ReadStopped: if the server is certainly gone, also read its data
	// directory (LocalDBProbe.Stopped). Only a vote asks: the read runs
	// pg_controldata and pg_waldump, too slow for every check.
	ReadStopped bool
}

// CheckRemoteDB connects directly to Node's database (not through its agent)
// and reports RemoteDBResult within Timeout.
type CheckRemoteDB struct {
	Seq     uint64
	Node    NodeID
	Timeout time.Duration
}

// CheckVIP pings the virtual IP (ping.server.command <vip>) and reports
// VIPResult within Timeout.
type CheckVIP struct {
	Seq     uint64
	Timeout time.Duration
}

// CheckPingServer pings ping.server.ip and reports PingResult.
type CheckPingServer struct {
	Seq     uint64
	Timeout time.Duration
}

// DBOp is an operation on the local database; the shell reports
// DBOpResult with the same Seq.
type DBOp uint8

const (
	// OpStartDB starts the local database as it is configured.
	OpStartDB DBOp = iota + 1
	// OpStopDB stops the local database (fast shutdown).
	OpStopDB
	// OpPromoteDB runs pg_ctl promote and resumes replay; the result is OK
	// once the server left recovery (poll at recovery.check.period). The
	// shell runs the CHECKPOINT that follows a promotion after answering,
	// so that the VIP does not wait for it.
	OpPromoteDB
	// OpFenceDB makes the local database unable to start writable again
	// (standby.signal / recovery.conf in the data directory). It does not
	// stop a running server; OpStopDB does.
	OpFenceDB
	// OpUnfenceDB removes the fence written by OpFenceDB.
	OpUnfenceDB
	// OpPauseReplay runs pg_wal_replay_pause(). The core reads the
	// positions it paused at with a ProbeLocalDB once the result is in.
	OpPauseReplay
	// OpResumeReplay runs pg_wal_replay_resume().
	OpResumeReplay
	// OpCheckpointDB runs CHECKPOINT: a primary about to hand over flushes
	// its dirty buffers while it still takes writes, so that the shutdown
	// checkpoint, during which it takes none, is short.
	OpCheckpointDB
	// OpDetachReceiver ends this standby's WAL receiver connection (the
	// startup process starts a new one later, with the same settings). A
	// voter detaches before it reads the position it votes with: WAL the
	// old primary wrote into that connection before it died (buffered in
	// its kernel, sent when a cut link heals) would otherwise still arrive
	// after the vote, past the new primary's fork point.
	OpDetachReceiver
)

var dbOpNames = [...]string{"", "start-db", "stop-db", "promote-db", "fence-db", "unfence-db",
	"pause-replay", "resume-replay", "checkpoint-db", "detach-receiver"}

func (o DBOp) String() string {
	if int(o) < len(dbOpNames) {
		return dbOpNames[o]
	}
	return "dbop?"
}

// DoDB asks the shell to perform Op within Timeout.
type DoDB struct {
	Seq     uint64
	Op      DBOp
	Timeout time.Duration
	// Timeline, for OpPromoteDB, is the lowest timeline the promotion may
	// create (core/timeline.go): the shell makes PostgreSQL choose it, or
	// one above, and fails the operation before promoting if it cannot.
	Timeline uint32
}

// VIPOp is an operation on the virtual IP; the shell reports DBOpResult
// with the same Seq. VIP and database operations run one at a time, in
// the order asked, as they share the node's network and its server.
type VIPOp uint8

const (
	// OpAddVIP adds the virtual IP and sends gratuitous ARP/NA.
	OpAddVIP VIPOp = iota + 1
	// OpReleaseVIP removes the virtual IP.
	OpReleaseVIP
)

var vipOpNames = [...]string{"", "add-vip", "release-vip"}

func (o VIPOp) String() string {
	if int(o) < len(vipOpNames) {
		return vipOpNames[o]
	}
	return "vipop?"
}

// DoVIP asks the shell to perform Op on the virtual IP within Timeout.
type DoVIP struct {
	Seq     uint64
	Op      VIPOp
	Timeout time.Duration
}

// FollowPrimary reconfigures this standby to stream from Primary: stop the
// database, point primary_conninfo at Primary, start it, and report
// DBOpResult once it accepts connections again (restart.connection.timeout).
//
// Sources is set for the old primary of a switchover only: its own
// primary_conninfo is empty or stale, so the shell copies the replication
// settings (user, passfile, sslmode...) of the first node of Sources whose
// database answers, reading them itself from that database so that no
// password travels in agent messages. A standby re-pointed after a failover
// has Sources empty and keeps its own settings, host swapped.
type FollowPrimary struct {
	Seq     uint64
	Primary NodeID
	Sources []NodeID
	Timeout time.Duration
	// Slot: stream through this node's physical slot on Primary
	// (primary_slot_name efm_<self>; update.physical.slots.period), which
	// the shell creates there first if it is missing.
	Slot bool
}

// RunScript runs Script with its placeholders; ScriptResult reports the exit
// code.
type RunScript struct {
	Seq          uint64
	Script       Script
	Placeholders Placeholders
	Timeout      time.Duration
}

// Notify sends an EFM notification: subject "[<LEVEL>] EFM <subject>".
// The subject comes from the catalogue (package subject), with its level;
// Node and Cluster fill its {node} and {cluster}.
type Notify struct {
	Subject subject.Subject
	Node    NodeID
	Cluster string
	Text    string
}

// Level is the notification's level, the subject's.
func (a Notify) Level() subject.Level { return a.Subject.Level }

// Title is the subject text as sent, placeholders filled in.
func (a Notify) Title() string { return a.Subject.Render(string(a.Node), a.Cluster) }

// SetRole changes the role this agent reports (cluster-status, metrics).
type SetRole struct{ Role Role }

// Watchdog arms the node's watchdog to reset the node unless fed again
// within Timeout; Timeout 0 disarms it. Emitted only with Params.Watchdog.
type Watchdog struct{ Timeout time.Duration }

// Log is a decision worth a log line (why a standby was or was not eligible,
// why a vote was refused). Attrs carry the details.
type Log struct {
	Level slog.Level
	Msg   string
	Attrs []slog.Attr
	// Event names the few lines an observer counts (the simulator's thaw
	// statistics), so that none has to match message texts.
	Event LogEvent
}

// LogEvent names a Log line worth counting; most lines have none.
type LogEvent uint8

const (
	LogPlain LogEvent = iota
	// LogThawStarted: the lease holder's fencing deadline passed while its
	// agent did not run, and it renews before it fences (thaw.go).
	LogThawStarted
	// LogThawKept: that renewal succeeded; the holder keeps its lease.
	LogThawKept
	// LogPromoteRefused: this node refused a promote order (attributes
	// coordinator and vote_epoch) and resigned that epoch.
	LogPromoteRefused
	// LogPromotionWaitedOut: a coordinator's candidate (attributes
	// candidate and vote_epoch) did not report its promotion within the
	// promotion budget.
	LogPromotionWaitedOut
)

// AdminReply answers an admin event with the same Seq. Err non-empty means
// the command was refused; Text is printed by the CLI.
type AdminReply struct {
	Seq  uint64
	Err  string
	Text string
}

// Exit tells the shell to stop the agent (stop-cluster): leave the
// membership and exit. The database and the VIP are left as they are.
type Exit struct{ Reason string }

func (Send) isAction()            {}
func (Persist) isAction()         {}
func (ProbeLocalDB) isAction()    {}
func (CheckRemoteDB) isAction()   {}
func (CheckVIP) isAction()        {}
func (CheckPingServer) isAction() {}
func (DoDB) isAction()            {}
func (DoVIP) isAction()           {}
func (FollowPrimary) isAction()   {}
func (RunScript) isAction()       {}
func (Notify) isAction()          {}
func (SetRole) isAction()         {}
func (Watchdog) isAction()        {}
func (Log) isAction()             {}
func (AdminReply) isAction()      {}
func (Exit) isAction()            {}
