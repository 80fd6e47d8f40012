package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// baseBackup is the rejoin's last resort: the old data directory moved
// aside (kept, never deleted), a fresh pg_basebackup from the new primary
// in its place, this node's own configuration files put back and
// standby.signal written. A failed backup puts the old directory back, so
// the node is left as it came: stopped and fenced.
func (r *rejoin) baseBackup(ctx context.Context) error {
	d, plan := r.d, r.plan
	src, err := r.sourceConninfo(false)
	if err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(d.cfg.DataDir))
	if err := r.step(ctx, "check room", func(ctx context.Context) (string, error) {
		return d.checkRoom(ctx, plan.Primary, parent)
	}); err != nil {
		return err
	}
	saved, err := d.saveOwnFiles(ctx)
	if err != nil {
		return err
	}
	aside := fmt.Sprintf("%s.openefm-%s", filepath.Clean(d.cfg.DataDir), time.Now().UTC().Format("20060102T150405Z"))
	if err := r.step(ctx, "move data directory aside", func(ctx context.Context) (string, error) {
		if _, err := d.runOwner(ctx, nil, "mv", "-T", "--", d.cfg.DataDir, aside); err != nil {
			return "", err
		}
		return d.cfg.DataDir + " moved to " + aside, nil
	}); err != nil {
		return err
	}
	r.report.MovedAside = aside
	err = r.step(ctx, "pg_basebackup", func(ctx context.Context) (string, error) {
		return d.pgBaseBackup(ctx, src, "")
	})
	if err != nil {
		// pg_basebackup removes what it created when it fails; put the
		// old directory back.
		if _, rerr := d.runOwner(context.WithoutCancel(ctx), nil, "sh", "-c", `rm -rf -- "$1" && mv -T -- "$2" "$1"`, "sh", d.cfg.DataDir, aside); rerr != nil {
			return fmt.Errorf("%w; putting %s back as %s also failed: %v", err, aside, d.cfg.DataDir, rerr)
		}
		r.report.MovedAside = ""
		return errors.Join(err, d.WriteStandbySignal(context.WithoutCancel(ctx)))
	}
	if err := d.restoreOwnFiles(ctx, saved); err != nil {
		return err
	}
	return d.WriteStandbySignal(ctx)
}

// pgBaseBackup runs pg_basebackup into the (absent or empty) data
// directory as the service owner: WAL streamed alongside so the copy is
// consistent by itself, an immediate checkpoint on the source.
// walDir, when set, is pg_basebackup's --waldir: pg_wal becomes a symbolic
// link to it (an absolute path, created empty or absent).
func (d *DB) pgBaseBackup(ctx context.Context, source, walDir string) (string, error) {
	argv := []string{d.pgBin("pg_basebackup"), "-D", d.cfg.DataDir, "-d", source, "-X", "stream", "-c", "fast"}
	if walDir != "" {
		if !filepath.IsAbs(walDir) {
			return "", fmt.Errorf("-waldir %q: want an absolute path", walDir)
		}
		argv = append(argv, "--waldir="+walDir)
	}
	out, err := d.runOwnerLong(ctx, argv...)
	if err != nil {
		return "", fmt.Errorf("pg_basebackup into %s: %w", d.cfg.DataDir, err)
	}
	return "copied into " + d.cfg.DataDir + tailIf(out), nil
}

func tailIf(out string) string {
	if out == "" {
		return ""
	}
	return ": " + tail(out, 200)
}

// checkRoom refuses a base backup where it cannot land: the data
// directory's parent must be writable by the service owner (the old
// directory is renamed there, the new one created), and its file system
// must have room for the primary's databases. The size is
// pg_database_size over every database the role may see; when it cannot
// be read the room is not checked (said in the detail), since the backup
// fails cleanly on a full disk and the old directory comes back.
func (d *DB) checkRoom(ctx context.Context, primary *DB, parent string) (string, error) {
	if _, err := d.runOwner(ctx, nil, "test", "-w", parent, "-a", "-x", parent); err != nil {
		return "", fmt.Errorf("%s is not writable by %s (db.service.owner), so the data directory cannot be moved aside and rebuilt there: %w", parent, d.cfg.ServiceOwner, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return "", fmt.Errorf("free space of %s: %w", parent, err)
	}
	free := int64(st.Bavail) * st.Bsize
	var need int64
	if err := primary.queryRow(ctx, "size of the primary's databases",
		"SELECT coalesce(sum(pg_database_size(oid)), 0)::bigint FROM pg_database WHERE has_database_privilege(oid, 'CONNECT')", nil, &need); err != nil {
		return fmt.Sprintf("%s writable, %d MB free; primary's size not readable (%v)", parent, free>>20, err), nil
	}
	if need > free {
		return "", fmt.Errorf("no room for a base backup in %s: %d MB free, the primary's databases take %d MB", parent, free>>20, need>>20)
	}
	return fmt.Sprintf("%s writable, %d MB free, %d MB needed", parent, free>>20, need>>20), nil
}

// ErrDataDirInUse is CreateStandby's refusal to touch an existing database.
var ErrDataDirInUse = errors.New("a database is already there")

// DataDirEmpty tells whether the data directory is absent or empty.
func (d *DB) DataDirEmpty(ctx context.Context) (bool, error) {
	ents, err := os.ReadDir(d.cfg.DataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case errors.Is(err, fs.ErrPermission):
		out, err := d.runOwner(ctx, nil, "sh", "-c", `[ ! -e "$1" ] || ls -A -- "$1"`, "sh", d.cfg.DataDir)
		if err != nil {
			return false, fmt.Errorf("list %s as %s: %w", d.cfg.DataDir, d.cfg.ServiceOwner, err)
		}
		return out == "", nil
	case err != nil:
		return false, fmt.Errorf("list %s: %w", d.cfg.DataDir, err)
	}
	return len(ents) == 0, nil
}

// CreateStandby builds this node's database as a standby of the primary at
// host/port (EFM 5.0's efm create-standby): pg_basebackup into the empty
// (or absent) data directory, primary_conninfo from src pointed at host
// (as FollowAsStandby does), standby.signal, start, and wait until it
// streams from host. It refuses with ErrDataDirInUse when the data
// directory holds anything: it never overwrites a database. The copy
// takes postgresql.conf, pg_hba.conf and postgresql.auto.conf from the
// primary (there are no own ones to keep); a db.config.dir outside the
// data directory is not touched. walDir, when set, puts pg_wal there
// (EFM 5.1's -waldir). ctx bounds the backup.
func (d *DB) CreateStandby(ctx context.Context, src ReplicationSettings, host string, port int, walDir string) error {
	start := time.Now()
	if err := d.createStandby(ctx, src, host, port, walDir); err != nil {
		return fmt.Errorf("create standby %s (%s) of %s: %w", d.cfg.Node, d.cfg.DataDir, host, err)
	}
	d.log.Info("standby created", "primary", host, "took", time.Since(start))
	return nil
}

func (d *DB) createStandby(ctx context.Context, src ReplicationSettings, host string, port int, walDir string) error {
	empty, err := d.DataDirEmpty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: db.data.dir %s is not empty (move it away or empty it first)", ErrDataDirInUse, d.cfg.DataDir)
	}
	settings, err := followSettings(src, host, port, d.cfg.ApplicationName, d.restoreCommandFor(host))
	if err != nil {
		return err
	}
	r := rejoin{d: d, plan: RejoinPlan{Host: host, Port: port, Settings: src}}
	source, err := r.sourceConninfo(false)
	if err != nil {
		return err
	}
	if _, err := d.pgBaseBackup(ctx, source, walDir); err != nil {
		return err
	}
	// The copy carries the primary's port; this node's is db.port.
	settings["port"] = strconv.Itoa(d.cfg.Port)
	return d.startStreamingFrom(ctx, settings, host, port)
}
