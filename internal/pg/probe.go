package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Status is one observation of a node's role and WAL positions.
type Status struct {
	InRecovery   bool // pg_is_in_recovery(): true = standby
	ReceivedLSN  LSN  // standby: pg_last_wal_receive_lsn() (0 if nothing streamed)
	ReplayLSN    LSN  // standby: pg_last_wal_replay_lsn()
	CurrentLSN   LSN  // primary: pg_current_wal_lsn()
	ReplayPaused bool // standby: pg_is_wal_replay_paused()
	// Timeline: primary = timeline of its current WAL file; standby = the
	// newest of the WAL receiver's received_tli (NULL when not streaming, or
	// hidden from a role without pg_read_all_stats), the control file's
	// checkpoint and minimum-recovery timelines, and every timeline an
	// earlier probe of this server saw. Never 0 on a server that answers:
	// a standby whose upstream just died still has a timeline, and a 0 there
	// made every voter that knew its own refuse it.
	Timeline               uint32
	RecoveryTargetTimeline string // "latest" is what EFM expects on standbys
	// SenderHost/SenderPort: whom the wal receiver streams from, and
	// WALReceiverStatus ("streaming", ...); empty when not receiving.
	// Visible only with pg_read_all_stats.
	SenderHost        string
	SenderPort        int
	WALReceiverStatus string
	// WALReceiverPID is the WAL receiver's pid, 0 when none runs. It is
	// visible to every role: a pid with an empty WALReceiverStatus means
	// the state is hidden from this role, not that nothing streams.
	WALReceiverPID int
	// DataDirectory is SHOW data_directory when the role may read it
	// (superuser or pg_read_all_settings), else "".
	DataDirectory string
}

// Position is the best WAL position for "most up-to-date" comparisons: the
// current LSN on a primary, the received LSN on a standby (or the replay
// LSN when nothing was received by streaming, e.g. archive recovery).
func (s Status) Position() LSN {
	if !s.InRecovery {
		return s.CurrentLSN
	}
	return max(s.ReceivedLSN, s.ReplayLSN)
}

// probeSQL reads everything in one round trip. Functions that error during
// (or outside) recovery sit behind CASE, which PostgreSQL evaluates lazily
// for volatile functions. LSNs come back as text because pgx has no pg_lsn
// codec.
const probeSQL = `
SELECT r,
  CASE WHEN NOT r THEN pg_current_wal_lsn()::text END,
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  CASE WHEN r THEN pg_is_wal_replay_paused() ELSE false END,
  CASE WHEN NOT r THEN substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,
  current_setting('recovery_target_timeline'),
  CASE WHEN pg_has_role('pg_read_all_settings', 'member') THEN current_setting('data_directory') END,
  w.received_tli, w.sender_host, w.sender_port, w.status, w.pid,
  CASE WHEN r THEN greatest((SELECT timeline_id FROM pg_control_checkpoint()),
    (SELECT min_recovery_end_timeline FROM pg_control_recovery())) END
FROM pg_is_in_recovery() AS r
LEFT JOIN pg_stat_wal_receiver AS w ON true`

// Probe is the health check: it reads the role and positions. It counts
// against db.reuse.connection.count.
func (d *DB) Probe(ctx context.Context) (Status, error) {
	var (
		st                        Status
		cur, recv, replay, tliHex *string
		dataDir, senderHost, wrs  *string
		recvTLI, senderPort, wpid *int32
		controlTLI                *int32
	)
	err := d.withConn(ctx, true, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, probeSQL).Scan(&st.InRecovery, &cur, &recv, &replay, &st.ReplayPaused,
			&tliHex, &st.RecoveryTargetTimeline, &dataDir, &recvTLI, &senderHost, &senderPort, &wrs, &wpid, &controlTLI)
	})
	if err != nil {
		return Status{}, fmt.Errorf("probe %s: %w", d.cfg.Node, err)
	}
	var errs []error
	var e error
	st.CurrentLSN, e = parseNullLSN(cur)
	errs = append(errs, e)
	st.ReceivedLSN, e = parseNullLSN(recv)
	errs = append(errs, e)
	st.ReplayLSN, e = parseNullLSN(replay)
	errs = append(errs, e)
	if tliHex != nil {
		v, e := strconv.ParseUint(*tliHex, 16, 32)
		errs = append(errs, e)
		st.Timeline = uint32(v)
	} else if st.InRecovery {
		st.Timeline = d.standbyTimeline(recvTLI, controlTLI)
	}
	if dataDir != nil {
		st.DataDirectory = *dataDir
	}
	if senderHost != nil {
		st.SenderHost = *senderHost
	}
	if senderPort != nil {
		st.SenderPort = int(*senderPort)
	}
	if wrs != nil {
		st.WALReceiverStatus = *wrs
	}
	if wpid != nil {
		st.WALReceiverPID = int(*wpid)
	}
	if err := errors.Join(errs...); err != nil {
		return Status{}, fmt.Errorf("probe %s: %w", d.cfg.Node, err)
	}
	return st, nil
}

// Role is what the agent believes a database should be.
type Role int

const (
	RolePrimary Role = iota + 1
	RoleStandby
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleStandby:
		return "standby"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ErrWrongState matches (errors.Is) every *WrongStateError.
var ErrWrongState = errors.New("Database in wrong state")

// WrongStateError is EFM's "Database in wrong state": a standby that left
// recovery, or a primary that is in recovery. The agent goes IDLE on it.
type WrongStateError struct {
	Node     string
	Expected Role
	Observed Role
}

func (e *WrongStateError) Error() string {
	return fmt.Sprintf("Database in wrong state on %s: expected %s, found %s (pg_is_in_recovery()=%t)",
		e.Node, e.Expected, e.Observed, e.Observed == RoleStandby)
}

func (e *WrongStateError) Is(target error) bool { return target == ErrWrongState }

// ObservedRole is the role a Status shows.
func (s Status) ObservedRole() Role {
	if s.InRecovery {
		return RoleStandby
	}
	return RolePrimary
}

// CheckRole returns a *WrongStateError when st does not show the expected
// role, nil otherwise.
func CheckRole(node string, expected Role, st Status) error {
	if got := st.ObservedRole(); got != expected {
		return &WrongStateError{Node: node, Expected: expected, Observed: got}
	}
	return nil
}

// standbyTimeline is the newest timeline known for this server in recovery:
// the receiver's, the control file's and the ones earlier probes saw. A
// standby's timeline only grows (following a promotion, or rebuilt from a
// newer primary), so the remembered value is never newer than the truth;
// where it lags the truth, the voters refuse the candidate: the safe side.
func (d *DB) standbyTimeline(recvTLI, controlTLI *int32) uint32 {
	tli := d.standbyTLI.Load()
	for _, v := range []*int32{recvTLI, controlTLI} {
		if v != nil && *v > 0 {
			tli = max(tli, uint32(*v))
		}
	}
	for {
		old := d.standbyTLI.Load()
		if tli <= old || d.standbyTLI.CompareAndSwap(old, tli) {
			return max(tli, old)
		}
	}
}
