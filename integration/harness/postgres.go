package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGPort is the port every server listens on. Each host has its own
// namespace, so one port for all keeps postgresql.conf identical everywhere.
const PGPort = 5432

// Every server asks for a password (scram-sha-256) on every connection,
// replication included, as a production cluster does: trust would hide
// whatever does not carry its credentials (a switched-over primary's
// primary_conninfo, a rewind source). The passwords are handed over as a
// deployment does: the agents get PGPassword as db.password.encrypted
// (NewEFMConfig), replication and the server-side tools read a passfile
// (Network.Passfile), the harness's own clients pass it directly.
const (
	PGPassword   = "efmi-postgres-secret" // the postgres superuser's
	ReplUser     = "replicator"           // the role standbys stream as
	ReplPassword = "efmi-replicator-secret"
)

// PG is one PostgreSQL server in a host. Its postgresql.conf is the same on
// every host by design (listen_addresses='*', port 5432, unix socket in
// '../sock' relative to the data directory), so the copies pg_basebackup
// and pg_rewind make of it are right for the host they land on: the
// field-notes' rewind trap (a rewound node comes back with the source's port
// and socket directory) cannot happen. The only per-node setting,
// primary_conninfo's application_name, lives in postgresql.auto.conf, which
// whoever re-clones a standby rewrites anyway.
type PG struct {
	Host    *Host
	Bin     string
	DataDir string // <host dir>/pgdata
	SockDir string // <host dir>/sock
	LogPath string // server log (pg_ctl -l)
	tb      TB
}

// PGOptions tunes the servers the harness creates.
type PGOptions struct {
	Bin string // PGBin() when empty
	// Conf lines appended to postgresql.conf of the primary (and so of every
	// clone), e.g. "wal_sender_timeout = '5s'". Not synchronous_standby_names:
	// InitPrimary's own writes would wait for standbys that do not exist yet
	// (ClusterOptions.Sync sets it once they stream).
	Conf []string
}

// baseConf is what the failover tests need: pg_rewind (wal_log_hints, WAL
// kept), hot standbys, and speed over durability (fsync off: the "host
// crash" faults kill processes, not the kernel, so the page cache survives).
var baseConf = []string{
	"listen_addresses = '*'",
	"port = 5432",
	"unix_socket_directories = '../sock'",
	"wal_level = replica",
	"wal_log_hints = on",
	"wal_keep_size = '128MB'",
	"max_wal_senders = 10",
	"max_replication_slots = 10",
	"hot_standby = on",
	"fsync = off",
	"full_page_writes = on",
	"synchronous_commit = on",
	"logging_collector = off",
	"log_line_prefix = '%m [%p] '",
	"wal_receiver_status_interval = '1s'",
	"wal_retrieve_retry_interval = '1s'",
	"password_encryption = 'scram-sha-256'",
}

// hbaConf asks scram-sha-256 of every connection, local ones too: the
// harness connects over the socket as root for the postgres role, which
// peer authentication would refuse. No trust anywhere.
const hbaConf = `
local all all scram-sha-256
local replication all scram-sha-256
host all all 10.231.0.0/16 scram-sha-256
host replication all 10.231.0.0/16 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
`

func newPG(tb TB, h *Host, opts PGOptions) (*PG, error) {
	bin := opts.Bin
	if bin == "" {
		bin = PGBin()
	}
	p := &PG{Host: h, Bin: bin, DataDir: filepath.Join(h.Dir, "pgdata"), SockDir: filepath.Join(h.Dir, "sock"), LogPath: filepath.Join(h.Dir, "postgres.log"), tb: tb}
	if err := os.MkdirAll(p.SockDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", p.SockDir, err)
	}
	if err := chownPostgres(p.SockDir); err != nil {
		return nil, err
	}
	if err := h.net.writePassfile(); err != nil {
		return nil, err
	}
	// The namespace teardown kills every process in it, but a postmaster
	// may have been started outside by an agent's pg_ctl: stop by pid too.
	tb.Cleanup(func() { _ = p.Kill() })
	return p, nil
}

// InitPrimary creates and starts a primary on h: initdb, the harness's
// settings, the tables the writer and probe use.
func InitPrimary(ctx context.Context, tb TB, h *Host, opts PGOptions) (*PG, error) {
	start := time.Now()
	p, err := newPG(tb, h, opts)
	if err != nil {
		return nil, err
	}
	pwfile := filepath.Join(h.Dir, "initdb.pw")
	if err := writeOwnerFile(pwfile, PGPassword+"\n"); err != nil {
		return nil, err
	}
	_, err = h.Run(ctx, ProcOptions{AsPostgres: true}, filepath.Join(p.Bin, "initdb"), "-D", p.DataDir, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--no-locale", "--no-sync")
	os.Remove(pwfile)
	if err != nil {
		return nil, fmt.Errorf("initdb on %s: %w", h.Name, err)
	}
	conf := strings.Join(append(append([]string{"", "# openefm integration harness"}, baseConf...), opts.Conf...), "\n") + "\n"
	if err := appendFile(filepath.Join(p.DataDir, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.DataDir, "pg_hba.conf"), []byte(hbaConf), 0o600); err != nil {
		return nil, fmt.Errorf("writing pg_hba.conf on %s: %w", h.Name, err)
	}
	if err := chownPostgres(filepath.Join(p.DataDir, "pg_hba.conf")); err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	if err := p.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN REPLICATION PASSWORD '%s'", ReplUser, ReplPassword)+`;
		CREATE TABLE efmi_writer (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE TABLE efmi_probe (host text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`); err != nil {
		return nil, err
	}
	tb.Logf("harness: primary on %s ready in %v", h.Name, time.Since(start).Round(time.Millisecond))
	return p, nil
}

// CloneStandby makes h a streaming standby of primary with pg_basebackup -R
// (run inside h, over the network), names it h.Name in primary_conninfo's
// application_name (for synchronous_standby_names) and starts it.
func CloneStandby(ctx context.Context, tb TB, h *Host, primary *PG, opts PGOptions) (*PG, error) {
	start := time.Now()
	p, err := newPG(tb, h, opts)
	if err != nil {
		return nil, err
	}
	if _, err := h.Run(ctx, p.pgEnv(), filepath.Join(p.Bin, "pg_basebackup"),
		"-h", primary.Host.Addr.String(), "-p", strconv.Itoa(PGPort), "-U", ReplUser,
		"-D", p.DataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		return nil, fmt.Errorf("pg_basebackup of %s from %s: %w", h.Name, primary.Host.Name, err)
	}
	if err := p.SetPrimaryConninfo(primary.Host.Addr); err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	tb.Logf("harness: standby on %s cloned from %s and started in %v", h.Name, primary.Host.Name, time.Since(start).Round(time.Millisecond))
	return p, nil
}

// SetPrimaryConninfo rewrites primary_conninfo in postgresql.auto.conf to
// follow the server at addr as ReplUser with the passfile, with
// application_name = the host's name. It takes effect at the next start (or
// reload).
func (p *PG) SetPrimaryConninfo(addr netip.Addr) error {
	path := filepath.Join(p.DataDir, "postgresql.auto.conf")
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "primary_conninfo") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	keep = append(keep, fmt.Sprintf("primary_conninfo = 'host=%s port=%d user=%s passfile=%s application_name=%s'",
		addr, PGPort, ReplUser, p.Host.net.Passfile(), p.Host.Name))
	if err := os.WriteFile(path, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return chownPostgres(path)
}

// Start starts the server with pg_ctl inside the host and waits until it
// accepts connections.
func (p *PG) Start(ctx context.Context) error {
	if _, err := p.Host.Run(ctx, ProcOptions{AsPostgres: true}, filepath.Join(p.Bin, "pg_ctl"), "-D", p.DataDir, "-l", p.LogPath, "-w", "-t", "30", "start"); err != nil {
		return fmt.Errorf("starting PostgreSQL on %s (log %s): %w", p.Host.Name, p.LogPath, err)
	}
	return nil
}

// Stop stops the server with pg_ctl; mode is smart, fast or immediate.
func (p *PG) Stop(ctx context.Context, mode string) error {
	if _, err := p.Host.Run(ctx, ProcOptions{AsPostgres: true}, filepath.Join(p.Bin, "pg_ctl"), "-D", p.DataDir, "-m", mode, "-w", "-t", "30", "stop"); err != nil {
		return fmt.Errorf("stopping PostgreSQL on %s (%s): %w", p.Host.Name, mode, err)
	}
	return nil
}

// Promote promotes a standby with pg_ctl promote and waits for it.
func (p *PG) Promote(ctx context.Context) error {
	if _, err := p.Host.Run(ctx, ProcOptions{AsPostgres: true}, filepath.Join(p.Bin, "pg_ctl"), "-D", p.DataDir, "-w", "-t", "30", "promote"); err != nil {
		return fmt.Errorf("promoting PostgreSQL on %s: %w", p.Host.Name, err)
	}
	return nil
}

// PostmasterPID reads the postmaster's pid from postmaster.pid; an error
// wrapping os.ErrNotExist when the server is not running.
func (p *PG) PostmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.DataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid of %s: bad pid %q", p.Host.Name, line)
	}
	// After a crash the file stays and the pid may belong to someone else
	// by now: only a live postgres process counts.
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "postgres" {
		return 0, fmt.Errorf("postmaster.pid of %s names pid %d, which is not a running postgres: %w", p.Host.Name, pid, os.ErrNotExist)
	}
	return pid, nil
}

// KillPostmaster sends SIGKILL to the postmaster alone, the "postgres
// crashed" fault: its backends notice and exit on their own, and a stale
// postmaster.pid stays behind, as after a real crash.
func (p *PG) KillPostmaster() (int, error) {
	pid, err := p.PostmasterPID()
	if err != nil {
		return 0, fmt.Errorf("killing the postmaster of %s: %w", p.Host.Name, err)
	}
	if !p.isPostmaster(pid) {
		return pid, fmt.Errorf("killing the postmaster of %s: pid %d in postmaster.pid is not a postmaster of %s", p.Host.Name, pid, p.DataDir)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return pid, fmt.Errorf("killing the postmaster of %s (pid %d): %w", p.Host.Name, pid, err)
	}
	p.tb.Logf("harness: SIGKILL to postmaster %d on %s", pid, p.Host.Name)
	return pid, nil
}

// Kill SIGKILLs the postmaster's whole process group (pg_ctl starts it in a
// session of its own, so the group is the server and its backends).
func (p *PG) Kill() error {
	pid, err := p.PostmasterPID()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	// postmaster.pid outlives a killed postmaster, and its pid may belong
	// to another process since (this machine's pid_max is small, and the
	// tests start thousands of processes): signal only a postmaster of
	// this data directory.
	if !p.isPostmaster(pid) {
		return nil
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing PostgreSQL on %s (pgid %d): %w", p.Host.Name, pid, err)
	}
	return nil
}

// isPostmaster reports whether pid runs postgres on this data directory.
func (p *PG) isPostmaster(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	cmd := strings.ReplaceAll(string(b), "\x00", " ")
	return strings.Contains(cmd, "postgres") && strings.Contains(cmd, p.DataDir)
}

// ConnConfig returns a pgx configuration for the server's unix socket: it
// works whatever the state of the host's network.
func (p *PG) ConnConfig() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres connect_timeout=2 sslmode=disable", p.SockDir, PGPort))
	if err != nil {
		return nil, err
	}
	cfg.Password = PGPassword
	return cfg, nil
}

// Connect opens a connection over the unix socket.
func (p *PG) Connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := p.ConnConfig()
	if err != nil {
		return nil, err
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL on %s: %w", p.Host.Name, err)
	}
	return c, nil
}

// Exec runs sql (several statements allowed) on a fresh connection.
func (p *PG) Exec(ctx context.Context, sql string) error {
	ctx, cancel := withDefaultTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := p.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("on %s: %s: %w", p.Host.Name, sql, err)
	}
	return nil
}

// QueryString runs a query (or expression) returning one value and gives
// it as text; sql is wrapped as SELECT (sql)::text, so SHOW does not fit:
// use current_setting('name').
func (p *PG) QueryString(ctx context.Context, sql string, args ...any) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := p.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close(context.Background())
	var s string
	if err := c.QueryRow(ctx, "SELECT ("+sql+")::text", args...).Scan(&s); err != nil {
		return "", fmt.Errorf("on %s: %s: %w", p.Host.Name, sql, err)
	}
	return s, nil
}

// InRecovery reports pg_is_in_recovery().
func (p *PG) InRecovery(ctx context.Context) (bool, error) {
	s, err := p.QueryString(ctx, "SELECT pg_is_in_recovery()")
	return s == "true", err
}

// Streaming returns the application names of the standbys streaming from
// this server, from pg_stat_replication.
func (p *PG) Streaming(ctx context.Context) ([]string, error) {
	s, err := p.QueryString(ctx, "SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '') FROM pg_stat_replication WHERE state = 'streaming'")
	if err != nil || s == "" {
		return nil, err
	}
	return strings.Split(s, ","), nil
}

// Writable commits one row into efmi_probe and reports whether the server
// accepted it: the ground truth for "this host is a primary". It sets
// synchronous_commit=local so a primary that lost its synchronous standby
// still answers (it *is* accepting writes). A refused write (read-only, in
// recovery) is (false, nil); an unreachable server is (false, err).
func (p *PG) Writable(ctx context.Context) (bool, error) {
	ctx, cancel := withDefaultTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := p.Connect(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close(context.Background())
	return probeWrite(ctx, c, p.Host.Name)
}

func probeWrite(ctx context.Context, c *pgx.Conn, host string) (bool, error) {
	_, err := c.Exec(ctx, "SET synchronous_commit = local; INSERT INTO efmi_probe(host) VALUES ('"+host+"')")
	if err == nil {
		return true, nil
	}
	if isReadOnly(err) {
		return false, nil
	}
	return false, err
}

// isReadOnly recognises "cannot execute INSERT in a read-only transaction"
// (SQLSTATE 25006), which standbys and fenced primaries answer.
func isReadOnly(err error) bool {
	return strings.Contains(err.Error(), "25006") || strings.Contains(err.Error(), "read-only transaction")
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// pgEnv runs a PostgreSQL tool as the postgres user with the passfile, as
// its ~/.pgpass would be in a deployment.
func (p *PG) pgEnv() ProcOptions {
	return ProcOptions{AsPostgres: true, Env: []string{"PGPASSFILE=" + p.Host.net.Passfile()}}
}

// Passfile is the libpq password file every host of the network uses for
// replication and pg_rewind (one path for all, as ~postgres/.pgpass is the
// same path on every host of a real cluster): owned by postgres, mode
// 0600, or libpq ignores it.
func (n *Network) Passfile() string { return filepath.Join(n.Dir, "pgpass") }

func (n *Network) writePassfile() error {
	return writeOwnerFile(n.Passfile(), fmt.Sprintf("*:*:*:postgres:%s\n*:*:*:%s:%s\n", PGPassword, ReplUser, ReplPassword))
}

// writeOwnerFile writes a file readable by the postgres user alone.
func writeOwnerFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return chownPostgres(path)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// GrantRewind gives the replication role what pg_rewind needs on a source
// that is not a superuser (PostgreSQL's pg_rewind documentation), on the
// primary, so that every standby and every future primary has it: the
// agents rebuild an old primary with the standbys' own primary_conninfo. An
// operator who sets auto.rewind does the same.
func GrantRewind(ctx context.Context, primary *PG) error {
	err := primary.Exec(ctx, `GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO `+ReplUser+`;
		GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO `+ReplUser+`;
		GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO `+ReplUser+`;
		GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO `+ReplUser)
	if err != nil {
		return fmt.Errorf("granting pg_rewind's functions to %s: %w", ReplUser, err)
	}
	return nil
}
