package agent

import (
	"context"
	"net/netip"
	"time"

	"github.com/openefm/efm/internal/core"
)

// The shell's view of the outside world. Each interface is what the shell
// consumes, no more; adapters.go binds them to internal/pg, internal/membership,
// fencing, internal/hooks and internal/notify. Tests of the shell can give
// it fakes; the integration tests run the real ones.

// dbStatus is one probe of a database.
type dbStatus struct {
	InRecovery   bool
	ReceivedLSN  core.LSN
	ReplayLSN    core.LSN
	CurrentLSN   core.LSN
	ReplayPaused bool
	Timeline     uint32
	// Upstream is the host a standby streams from, "" if unknown.
	Upstream string
	// WALReceiver is core.LocalDBProbe.WALReceiver.
	WALReceiver string
}

// localDB is the database beside this agent.
type localDB interface {
	Probe(ctx context.Context) (dbStatus, error)
	// PostmasterGone: certainly no postmaster of this data directory
	// runs (pg.DB.PostmasterGone); why says what was found or in doubt.
	PostmasterGone(ctx context.Context) (gone bool, why string)
	// ReadStopped reads the data directory of a server certainly not
	// running (pg.DB.ReadStopped) for the core's vote rules.
	ReadStopped(ctx context.Context) (core.StoppedDB, error)
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
	// Promote promotes and returns once the server takes writes;
	// CheckpointAfterPromotion is the CHECKPOINT that should follow, run
	// by the caller once the VIP is on its way. The new timeline is
	// atLeast or above (core.DoDB.Timeline; 0: PostgreSQL's choice).
	Promote(ctx context.Context, atLeast uint32) error
	CheckpointAfterPromotion(ctx context.Context)
	Checkpoint(ctx context.Context) error
	Fence(ctx context.Context) error
	Unfence(ctx context.Context) error
	PauseReplay(ctx context.Context) error
	ResumeReplay(ctx context.Context) error
	// DetachReceiver ends the WAL receiver's connection (core.OpDetachReceiver).
	DetachReceiver(ctx context.Context) error
	// DivergedFrom: this database certainly holds WAL past primary's
	// fork point (pg.DB.DivergedFrom); why says what was compared.
	DivergedFrom(ctx context.Context, primary string) (diverged bool, why string, err error)
	Follow(ctx context.Context, primaryHost string) error
	// FollowWith makes this stopped old primary a standby of primaryHost
	// with replication settings copied from another node (switchover).
	FollowWith(ctx context.Context, primaryHost string, src replSettings) error
	Close(ctx context.Context) error
}

// replSettings are the settings a standby streams with, as read from one
// (primary_conninfo may hold a password: they stay in this process and
// travel only over the database connection they were read through).
type replSettings struct {
	PrimaryConninfo string
	RestoreCommand  string
	// Slot is the physical slot on the new primary to stream through
	// ("" for none); set by the follower, never copied from the source.
	Slot string
}

// remoteDBs probes other nodes' databases directly (not through their
// agents), as EFM's agents do before declaring a primary failed.
type remoteDBs interface {
	Probe(ctx context.Context, host string) (dbStatus, error)
	// ReplicationSettings reads host's primary_conninfo and
	// restore_command with SQL (db.user needs superuser or
	// pg_read_all_settings to see primary_conninfo).
	ReplicationSettings(ctx context.Context, host string) (replSettings, error)
}

// vip is the virtual IP of the cluster on this node.
type vip interface {
	Address() string
	Acquire(ctx context.Context) error
	Release(ctx context.Context) error
	Held() (bool, error)
	// Reachable reports whether the VIP answers from this node's point of
	// view (ping.server.command <vip>). An error means the probe could not
	// tell: the VIP is in doubt, never free.
	Reachable(ctx context.Context) (bool, error)
}

// pinger checks ping.server.ip (the orphan check). An error means the
// probe could not tell.
type pinger interface {
	Reachable(ctx context.Context) (bool, error)
}

// transport carries core messages and reports the membership.
type transport interface {
	Send(ctx context.Context, to string, b []byte) error
	Messages() <-chan inbound
	// Changes signals that the member list changed; View gives it.
	Changes() <-chan struct{}
	// View is the membership as the core needs it: every member, DOWN and
	// cleanly left ones included, and the reset-members generation.
	View() core.MembershipChanged
	SetLocalState(state string)
	Leave(timeout time.Duration) error
	Shutdown() error
}

// inbound is one message from another agent.
type inbound struct {
	From    string
	Payload []byte
}

// scriptRunner runs a hook script with EFM's placeholders.
type scriptRunner interface {
	Run(ctx context.Context, script core.Script, ph core.Placeholders, timeout time.Duration) (exitCode int, output string)
}

// notifier delivers a notification (log, mail, script.notification).
type notifier interface {
	Notify(ctx context.Context, n core.Notify)
}

// roster is the membership's shared state that operators change.
type roster interface {
	AllowNode(ctx context.Context, addr netip.Addr) error
	DisallowNode(ctx context.Context, addr netip.Addr) error
	// SetPriority records efm set-priority in the cluster's shared state;
	// the core receives it with the membership view.
	SetPriority(ctx context.Context, node netip.Addr, priority int) error
	Allowed() []string
	Coordinator() string
	ResetMembers(ctx context.Context) error
	StopCluster(ctx context.Context) error
}
