package pg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownerCommand builds argv to run as the service owner, in this order of
// preference: the configured sudo.user.command prefix (EFM's default is
// "sudo -u %u"), unless its program is not installed; nothing when the
// agent already is the owner; process credentials when the agent is root
// (no sudo needed, and a fresh machine may have none); "sudo -n -u <owner>"
// otherwise (-n: fail instead of waiting for a password prompt).
func (d *DB) ownerCommand(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	owner := d.cfg.ServiceOwner
	me, meErr := user.Current()
	isOwner := meErr == nil && me.Username == owner
	if p := d.cfg.SudoUserCommand; p != "" {
		prefix := strings.Fields(strings.ReplaceAll(p, "%u", owner))
		_, lookErr := exec.LookPath(prefix[0])
		switch {
		case lookErr == nil:
			return d.command(ctx, append(prefix, argv...)), nil
		case !isOwner && os.Geteuid() != 0:
			return nil, fmt.Errorf("sudo.user.command %q: %w", p, lookErr)
		}
		// Root or the owner itself needs no prefix: fall through.
	}
	if isOwner {
		return d.command(ctx, argv), nil
	}
	if os.Geteuid() != 0 {
		return d.command(ctx, append([]string{"sudo", "-n", "-u", owner}, argv...)), nil
	}
	cred, u, err := lookupCredential(owner)
	if err != nil {
		return nil, fmt.Errorf("db.service.owner %q: %w", owner, err)
	}
	cmd := d.command(ctx, argv)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "HOME="+u.HomeDir, "USER="+owner, "LOGNAME="+owner)
	return cmd, nil
}

func (d *DB) command(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// The owner may not be able to enter the agent's working directory.
	cmd.Dir = "/"
	// A child that keeps our output pipe open (a postmaster started
	// without -l) must not hang the call past its deadline.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func lookupCredential(name string) (*syscall.Credential, *user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, u, nil
}

// runOwner runs argv as the owner within CtlTimeout and returns its
// combined output; the error carries the output's tail.
func (d *DB) runOwner(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CtlTimeout)
	defer cancel()
	return d.runOwnerCtx(ctx, stdin, argv...)
}

// runOwnerLong is runOwner bounded by ctx alone, for pg_rewind and
// pg_basebackup, whose time grows with the database, not with pg_ctl's.
func (d *DB) runOwnerLong(ctx context.Context, argv ...string) (string, error) {
	return d.runOwnerCtx(ctx, nil, argv...)
}

func (d *DB) runOwnerCtx(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	cmd, err := d.ownerCommand(ctx, argv...)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (deadline reached)", ctx.Err())
		}
		args := redactPasswords(strings.Join(cmd.Args, " "))
		if s == "" {
			return s, fmt.Errorf("%s: %w", args, err)
		}
		return s, fmt.Errorf("%s: %w: %s", args, err, tail(s, 500))
	}
	return s, nil
}

// passwordInConninfo is a password=... pair of a libpq connection string
// (pg_rewind --source-server, pg_basebackup -d), quoted or bare.
var passwordInConninfo = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redactPasswords hides passwords of connection strings in a command line
// that goes into an error: errors reach logs and notifications.
func redactPasswords(s string) string {
	return passwordInConninfo.ReplaceAllString(s, "password=*****")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writeOwnerFile atomically writes a file in the data directory so that
// the owner owns it (PostgreSQL insists on owning PGDATA's contents). Root
// writes and chowns; the owner writes directly; anyone else goes through
// the owner command with the content on stdin.
func (d *DB) writeOwnerFile(ctx context.Context, path string, content []byte) error {
	tmp := path + ".openefm-tmp"
	// Keep an existing file's mode (initdb -g makes them 0640).
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if os.Geteuid() == 0 {
		cred, _, err := lookupCredential(d.cfg.ServiceOwner)
		if err != nil {
			return fmt.Errorf("write %s: db.service.owner %q: %w", path, d.cfg.ServiceOwner, err)
		}
		if err := writeFileMode(tmp, content, mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	err := writeFileMode(tmp, content, mode)
	if err == nil {
		if err = os.Rename(tmp, path); err == nil {
			return nil
		}
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = d.runOwner(ctx, content, "sh", "-c", `umask 077 && cat > "$1.openefm-tmp" && mv "$1.openefm-tmp" "$1"`, "sh", path)
	if err != nil {
		return fmt.Errorf("write %s as %s: %w", path, d.cfg.ServiceOwner, err)
	}
	return nil
}

// readOwnerFile reads a file in the data directory; missing = nil, nil.
func (d *DB) readOwnerFile(ctx context.Context, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case !errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out, err := d.runOwner(ctx, nil, "sh", "-c", `[ ! -e "$1" ] || cat "$1"`, "sh", path)
	if err != nil {
		return nil, fmt.Errorf("read %s as %s: %w", path, d.cfg.ServiceOwner, err)
	}
	return []byte(out + "\n"), nil
}

// ownerFileExists tells whether path exists, asking as the owner if needed.
func (d *DB) ownerFileExists(ctx context.Context, path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case !errors.Is(err, fs.ErrPermission):
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	out, err := d.runOwner(ctx, nil, "sh", "-c", `if [ -e "$1" ]; then echo yes; else echo no; fi`, "sh", path)
	if err != nil {
		return false, fmt.Errorf("stat %s as %s: %w", path, d.cfg.ServiceOwner, err)
	}
	return out == "yes", nil
}

// removeOwnerFile removes path if present.
func (d *DB) removeOwnerFile(ctx context.Context, path string) error {
	err := os.Remove(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if _, err := d.runOwner(ctx, nil, "rm", "-f", path); err != nil {
		return fmt.Errorf("remove %s as %s: %w", path, d.cfg.ServiceOwner, err)
	}
	return nil
}

func (d *DB) dataPath(name string) string { return filepath.Join(d.cfg.DataDir, name) }

// writeFileMode writes a new file with exactly mode (not masked by umask).
func writeFileMode(path string, content []byte, mode os.FileMode) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
