package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// standbySignalName makes PostgreSQL (12+) start as a standby.
const standbySignalName = "standby.signal"

// Fence makes sure this database cannot come back writable by itself: it
// writes standby.signal into the data directory, so any later start — by
// an operator, a boot script, systemd — comes up in recovery, read-only.
// With clearConninfo it also blanks primary_conninfo in
// postgresql.auto.conf, so the fenced node does not even stream from
// anyone until it is deliberately reconfigured.
//
// EFM writes recovery.conf instead, which PostgreSQL 12+ refuses to start
// with at all. standby.signal was chosen because a read-only node is still
// useful for inspection and pg_rewind needs a cleanly shut-down or
// restartable target. Fence does not stop a running server: call Stop
// first (StopImmediate when writes must end now); the file only governs
// the next start.
func (d *DB) Fence(ctx context.Context, clearConninfo bool) error {
	if err := d.WriteStandbySignal(ctx); err != nil {
		return fmt.Errorf("fence %s: %w", d.cfg.Node, err)
	}
	if clearConninfo {
		if err := d.editAutoConf(ctx, map[string]string{"primary_conninfo": ""}); err != nil {
			return fmt.Errorf("fence %s: %w", d.cfg.Node, err)
		}
	}
	d.log.Info("database fenced with standby.signal", "data_dir", d.cfg.DataDir, "cleared_primary_conninfo", clearConninfo)
	return nil
}

// WriteStandbySignal creates standby.signal in the data directory (owned by
// the service owner) unless it exists, and removes any stale "promote"
// signal file, which would otherwise end recovery right after the start.
func (d *DB) WriteStandbySignal(ctx context.Context) error {
	if err := d.removeOwnerFile(ctx, d.dataPath(promoteSignalName)); err != nil {
		return err
	}
	p := d.dataPath(standbySignalName)
	ok, err := d.ownerFileExists(ctx, p)
	if err != nil || ok {
		return err
	}
	return d.writeOwnerFile(ctx, p, nil)
}

// HasStandbySignal tells whether standby.signal exists in the data
// directory (EFM's "recovery file found on primary" check).
func (d *DB) HasStandbySignal(ctx context.Context) (bool, error) {
	return d.ownerFileExists(ctx, d.dataPath(standbySignalName))
}

// RemoveStandbySignal removes standby.signal (for an operator resuming a
// fenced node as primary on purpose).
func (d *DB) RemoveStandbySignal(ctx context.Context) error {
	return d.removeOwnerFile(ctx, d.dataPath(standbySignalName))
}

// editAutoConf sets settings in postgresql.auto.conf by a line edit, for a
// server that is stopped (ALTER SYSTEM needs a running one). Only the named
// settings change; per-node settings are left alone.
func (d *DB) editAutoConf(ctx context.Context, settings map[string]string) error {
	p := d.dataPath(autoConfName)
	b, err := d.readOwnerFile(ctx, p)
	if err != nil {
		return err
	}
	ac := parseAutoConf(b)
	for k, v := range settings {
		ac.set(k, v)
	}
	return d.writeOwnerFile(ctx, p, ac.bytes())
}

// ReplicationSettings are the settings a standby follows its primary with.
type ReplicationSettings struct {
	PrimaryConninfo string
	RestoreCommand  string
	PrimarySlotName string
}

// ReplicationSettings reads a standby's settings with SHOW (reading
// primary_conninfo needs superuser or pg_read_all_settings). The switchover
// sends them to the old primary, which has none of its own.
func (d *DB) ReplicationSettings(ctx context.Context) (ReplicationSettings, error) {
	var rs ReplicationSettings
	err := d.queryRow(ctx, "read replication settings",
		`SELECT current_setting('primary_conninfo'), current_setting('restore_command'), current_setting('primary_slot_name')`,
		nil, &rs.PrimaryConninfo, &rs.RestoreCommand, &rs.PrimarySlotName)
	return rs, err
}

// currentSetting reads a setting's effective value: SHOW on a running
// server (what it uses now), else — or without the privilege to SHOW it —
// "postgres -C", which evaluates postgresql.conf, its includes and
// postgresql.auto.conf the way the server will at its next start.
func (d *DB) currentSetting(ctx context.Context, running bool, name string) (string, error) {
	var v string
	var sqlErr error
	if running {
		sqlErr = d.queryRow(ctx, "read "+name, "SELECT current_setting($1)", []any{name}, &v)
		if sqlErr == nil {
			return v, nil
		}
	}
	out, err := d.runOwner(ctx, nil, d.pgBin("postgres"), "-C", name, "-D", d.cfg.ConfigDir)
	if err != nil {
		return "", errors.Join(sqlErr, fmt.Errorf("read %s with postgres -C: %w", name, err))
	}
	return strings.TrimSpace(out), nil
}

// restoreCommandFor renders restore.command for a new primary (%h), or ""
// when the property is unset (then restore_command is left untouched).
func (d *DB) restoreCommandFor(host string) string {
	if d.cfg.RestoreCommand == "" {
		return ""
	}
	return strings.ReplaceAll(d.cfg.RestoreCommand, "%h", host)
}

// Repoint makes this standby follow a new primary at host (and port, when
// port > 0): primary_conninfo gets the new host, keeping its other parts
// (application_name replaced by Config.ApplicationName when set);
// restore_command is rewritten from Config.RestoreCommand when set;
// standby.signal is ensured. A running server takes the change by reload
// (primary_conninfo and restore_command are reloadable since PostgreSQL
// 13/14), falling back to a restart if it does not stream from the new
// primary soon; a stopped one is edited on disk and started. Repoint
// returns once the wal receiver streams from host, or fails after
// RestartConnectionTimeout.
func (d *DB) Repoint(ctx context.Context, host string, port int) error {
	return d.RepointThroughSlot(ctx, host, port, "")
}

// RepointThroughSlot is Repoint with primary_slot_name = slot (when not
// ""): the standby streams through its physical slot on the new primary,
// which must exist there (EnsurePhysicalSlot). primary_slot_name is
// reloadable since PostgreSQL 13.
func (d *DB) RepointThroughSlot(ctx context.Context, host string, port int, slot string) error {
	if slot != "" {
		if err := checkSlotName(slot); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := d.repoint(ctx, host, port, slot); err != nil {
		return fmt.Errorf("point standby %s (%s) at %s: %w", d.cfg.Node, d.cfg.DataDir, host, err)
	}
	d.log.Info("standby follows new primary", "primary", host, "took", time.Since(start))
	return nil
}

// ErrNoPrimaryConninfo: a standby with an empty primary_conninfo has
// nothing to re-point. It was never a standby (the cluster's first primary,
// started in recovery behind its fence): a host and port alone carry no
// user and no password, and with scram-sha-256 it could never stream
// (chaos seed 9136). Its settings must be copied from a standby, as an old
// primary's are.
var ErrNoPrimaryConninfo = errors.New("this standby's primary_conninfo is empty: there are no replication settings to re-point")

func (d *DB) repoint(ctx context.Context, host string, port int, slot string) error {
	running, err := d.Running(ctx)
	if err != nil {
		return err
	}
	if running {
		// A running primary would ignore standby.signal until restarted
		// and keep accepting writes meanwhile: refuse, that is a job for
		// Stop + Fence or FollowAsStandby.
		st, err := d.Probe(ctx)
		if err != nil {
			return err
		}
		if err := CheckRole(d.cfg.Node, RoleStandby, st); err != nil {
			return fmt.Errorf("refusing to repoint a running primary: %w", err)
		}
	}
	current, err := d.currentSetting(ctx, running, "primary_conninfo")
	if err != nil {
		return err
	}
	if strings.TrimSpace(current) == "" {
		return ErrNoPrimaryConninfo
	}
	ci, err := ParseConninfo(current)
	if err != nil {
		return fmt.Errorf("current primary_conninfo: %w", err)
	}
	ci = ci.WithHost(host, port)
	if d.cfg.ApplicationName != "" {
		ci.Set("application_name", d.cfg.ApplicationName)
	}
	settings := map[string]string{"primary_conninfo": ci.String()}
	if slot != "" {
		settings["primary_slot_name"] = slot
	}
	if rc := d.restoreCommandFor(host); rc != "" {
		settings["restore_command"] = rc
	}
	if err := d.WriteStandbySignal(ctx); err != nil {
		return err
	}
	if !running {
		if err := d.editAutoConf(ctx, settings); err != nil {
			return err
		}
		if err := d.Start(ctx); err != nil {
			return err
		}
		return d.WaitStreaming(ctx, host, port, d.cfg.RestartConnectionTimeout)
	}
	if err := d.applyRunning(ctx, settings); err != nil {
		return err
	}
	// A reload restarts the wal receiver within a moment; give it a bounded
	// grace, then restart, which is what EFM does every time.
	grace := min(10*time.Second, d.cfg.RestartConnectionTimeout/2)
	werr := d.WaitStreaming(ctx, host, port, grace)
	if werr == nil {
		return nil
	}
	d.log.Warn("standby not streaming from new primary after reload; restarting", "primary", host, "err", werr)
	if err := d.Restart(ctx); err != nil {
		return err
	}
	return d.WaitStreaming(ctx, host, port, d.cfg.RestartConnectionTimeout)
}

// applyRunning writes settings through ALTER SYSTEM and reloads. Without
// the privilege for it, it edits the file and reloads with pg_ctl.
func (d *DB) applyRunning(ctx context.Context, settings map[string]string) error {
	var denied bool
	for k, v := range settings {
		err := d.exec(ctx, "ALTER SYSTEM SET "+k, "ALTER SYSTEM SET "+k+" = "+quoteLiteral(v))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			denied = true
			break
		}
		if err != nil {
			return err
		}
	}
	if denied {
		if err := d.editAutoConf(ctx, settings); err != nil {
			return err
		}
		_, err := d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "reload", "-D", d.cfg.ConfigDir)
		return err
	}
	return d.exec(ctx, "reload configuration", "SELECT pg_reload_conf()")
}

// WaitStreaming waits until the wal receiver streams from host (and port,
// when port > 0: several instances may share one host). Right after a
// failover the first stream can be the old timeline's tail up to the new
// primary's fork point; the receiver then switches to the new timeline by
// itself (recovery_target_timeline=latest). Status.Timeline shows which.
func (d *DB) WaitStreaming(ctx context.Context, host string, port int, timeout time.Duration) error {
	var last Status
	var lastErr error
	err := pollUntil(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		last, lastErr = d.Probe(ctx)
		return lastErr == nil && last.WALReceiverStatus == "streaming" && last.SenderHost == host &&
			(port <= 0 || last.SenderPort == port), nil
	})
	if err != nil {
		return fmt.Errorf("not streaming from %s:%d within %s (wal receiver %q from %s:%d, last error %v): %w",
			host, port, timeout, last.WALReceiverStatus, last.SenderHost, last.SenderPort, lastErr, err)
	}
	return nil
}

// FollowAsStandby turns this (old) primary into a standby of the new
// primary at host/port, for a switchover: stop (fast), take primary_conninfo
// from a standby's settings (src, see ReplicationSettings) with the host
// replaced and application_name replaced by Config.ApplicationName or
// removed (EFM's rule), restore_command from Config.RestoreCommand or src,
// write standby.signal, start, and wait until it streams from host.
func (d *DB) FollowAsStandby(ctx context.Context, src ReplicationSettings, host string, port int) error {
	return d.FollowAsStandbyThroughSlot(ctx, src, host, port, "")
}

// FollowAsStandbyThroughSlot is FollowAsStandby streaming through the
// physical slot named slot on host ("" for none); the slot must exist there.
func (d *DB) FollowAsStandbyThroughSlot(ctx context.Context, src ReplicationSettings, host string, port int, slot string) error {
	if slot != "" {
		if err := checkSlotName(slot); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := d.followAsStandby(ctx, src, host, port, slot); err != nil {
		return fmt.Errorf("make %s (%s) a standby of %s: %w", d.cfg.Node, d.cfg.DataDir, host, err)
	}
	d.log.Info("old primary now follows new primary", "primary", host, "took", time.Since(start))
	return nil
}

func (d *DB) followAsStandby(ctx context.Context, src ReplicationSettings, host string, port int, slot string) error {
	settings, err := followSettings(src, host, port, d.cfg.ApplicationName, d.restoreCommandFor(host))
	if err != nil {
		return err
	}
	settings["primary_slot_name"] = slot
	if err := d.Stop(ctx, StopFast); err != nil {
		return err
	}
	return d.startStreamingFrom(ctx, settings, host, port)
}

// startStreamingFrom is how every path here turns a stopped data directory
// into a standby of host: settings written to postgresql.auto.conf,
// standby.signal, start, and wait until it streams from host.
func (d *DB) startStreamingFrom(ctx context.Context, settings map[string]string, host string, port int) error {
	if err := d.editAutoConf(ctx, settings); err != nil {
		return err
	}
	if err := d.WriteStandbySignal(ctx); err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	return d.WaitStreaming(ctx, host, port, d.cfg.RestartConnectionTimeout)
}

// followSettings derives an old primary's replication settings from a
// standby's (EFM's switchover rule): host (and port) replaced,
// application_name replaced by appName or removed, restore_command from
// restore.command when set, else the standby's.
func followSettings(src ReplicationSettings, host string, port int, appName, restoreCommand string) (map[string]string, error) {
	if src.PrimaryConninfo == "" {
		return nil, errors.New("source standby has an empty primary_conninfo")
	}
	ci, err := ParseConninfo(src.PrimaryConninfo)
	if err != nil {
		return nil, fmt.Errorf("source primary_conninfo: %w", err)
	}
	ci = ci.WithHost(host, port)
	if appName != "" {
		ci.Set("application_name", appName)
	} else {
		ci.Delete("application_name")
	}
	// The source's primary_slot_name is its own slot, never this node's;
	// and a slot name this node kept from an earlier upstream may not exist
	// on host. Stream through none unless the caller names one
	// (src.PrimarySlotName is not read for this reason: callers set
	// settings["primary_slot_name"] themselves).
	settings := map[string]string{"primary_conninfo": ci.String(), "primary_slot_name": ""}
	if restoreCommand != "" {
		settings["restore_command"] = restoreCommand
	} else if src.RestoreCommand != "" {
		settings["restore_command"] = src.RestoreCommand
	}
	return settings, nil
}
