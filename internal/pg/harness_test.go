package pg

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
)

// The harness runs real PostgreSQL 15 servers on 127.0.0.1, one port per
// instance, as the postgres OS user, and always stops them (immediate) in
// t.Cleanup. Every connection authenticates with scram-sha-256, as in
// production: the agent's with Config.Password, replication and the
// server-side tools (pg_basebackup, pg_rewind) through a passfile.

const pgBinDir = "/usr/lib/postgresql/15/bin"

// testPassword is the postgres role's password in every test server.
const testPassword = "efm-pg-test-secret"

var (
	templateOnce sync.Once
	templateDir  string // an initdb'd data directory, copied per instance
	templateErr  error
	passfile     string // libpq password file for testPassword, owned by postgres, 0600
	nextPort     atomic.Int32
)

func TestMain(m *testing.M) {
	// Below Linux's ephemeral range (32768-60999): a port there can be
	// handed to any outgoing connection or ":0" listener of the tests
	// running beside these, between freePort's check and the server's bind
	// (seen once in make test). Spread by PID for concurrent test runs.
	nextPort.Store(21000 + int32(os.Getpid()%50)*200)
	code := m.Run()
	if templateDir != "" {
		_ = os.RemoveAll(filepath.Dir(templateDir))
	}
	os.Exit(code)
}

// requirePG skips (loudly) unless the test can run real servers.
func requirePG(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING real-PostgreSQL test: needs root to run servers as the postgres user")
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(pgBinDir, b)); err != nil {
			t.Skipf("SKIPPING real-PostgreSQL test: %s missing: %v", b, err)
		}
	}
	if _, err := user.Lookup("postgres"); err != nil {
		t.Skipf("SKIPPING real-PostgreSQL test: no postgres OS user: %v", err)
	}
}

// asPostgres runs a command as the postgres user.
func asPostgres(t *testing.T, timeout time.Duration, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--"}, argv...)...)
	cmd.Dir = "/"
	if passfile != "" {
		cmd.Env = append(os.Environ(), "PGPASSFILE="+passfile)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return out.String(), err
}

func chownPostgres(t *testing.T, path string) {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// baseDir is a test directory the postgres user can enter.
func baseDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chownPostgres(t, d)
	return d
}

func template(t *testing.T) string {
	t.Helper()
	templateOnce.Do(func() {
		root, err := os.MkdirTemp("", "openefm-pg-template-")
		if err != nil {
			templateErr = err
			return
		}
		_ = os.Chmod(root, 0o755)
		chownPostgres(t, root)
		dir := filepath.Join(root, "data")
		pwfile, pass := filepath.Join(root, "pwfile"), filepath.Join(root, "pgpass")
		for f, content := range map[string]string{pwfile: testPassword + "\n", pass: "*:*:*:postgres:" + testPassword + "\n"} {
			if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
				templateErr = err
				return
			}
			chownPostgres(t, f)
		}
		// initdb's pg_hba.conf then asks scram-sha-256 everywhere,
		// replication included: no trust.
		out, err := asPostgres(t, 60*time.Second, filepath.Join(pgBinDir, "initdb"), "-D", dir, "-U", "postgres",
			"--auth=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--no-locale", "--no-sync", "--wal-segsize=1")
		if err != nil {
			templateErr = fmt.Errorf("initdb: %v: %s", err, out)
			return
		}
		templateDir, passfile = dir, pass
	})
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	return templateDir
}

// freePort hands out ports from TestMain's base up that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := int(nextPort.Add(1))
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free port")
	return 0
}

type instance struct {
	t    *testing.T
	name string
	dir  string
	port int
	db   *DB
}

// perNodeConf is appended to postgresql.conf; later lines win, so it also
// overrides what pg_basebackup copied from the primary.
func perNodeConf(port int, sock string) string {
	return fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
wal_log_hints = on
wal_keep_size = '64MB'
shared_buffers = '16MB'
max_connections = 20
`, port, sock)
}

func (in *instance) appendConf(s string) {
	in.t.Helper()
	f, err := os.OpenFile(filepath.Join(in.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		in.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		in.t.Fatal(err)
	}
}

func newInstance(t *testing.T, base, name string) *instance {
	t.Helper()
	in := &instance{t: t, name: name, dir: filepath.Join(base, name), port: freePort(t)}
	sock := filepath.Join(base, name+"-sock")
	if err := os.Mkdir(sock, 0o755); err != nil {
		t.Fatal(err)
	}
	chownPostgres(t, sock)
	t.Cleanup(func() {
		// Always stop, whatever state the test left it in.
		_, _ = asPostgres(t, 30*time.Second, filepath.Join(pgBinDir, "pg_ctl"), "-D", in.dir, "-m", "immediate", "-w", "stop")
		releaseShm(in.dir)
	})
	in.db = in.newDB(nil)
	_ = sock
	return in
}

// releaseShm removes the System V segment a killed postmaster of dir left
// behind; a stopped one removes its own. These servers run in the machine's
// IPC namespace, where leftovers would pile up across runs until shmget
// fails (SHMMNI). postmaster.pid's seventh line names the segment ("key
// shmid"); only one no process is attached to goes, as PostgreSQL's own
// start would decide.
func releaseShm(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return
	}
	id, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil || ds.Nattch != 0 {
		return
	}
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
}

func (in *instance) config() Config {
	return Config{
		Node: in.name, Host: "127.0.0.1", Port: in.port, User: "postgres", Database: "postgres",
		Password:       testPassword,
		ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second,
		BinDir: pgBinDir, DataDir: in.dir, ServiceOwner: "postgres",
		LogFile:                  in.dir + ".log",
		CtlTimeout:               30 * time.Second,
		RecoveryCheckPeriod:      100 * time.Millisecond,
		RestartConnectionTimeout: 20 * time.Second,
	}
}

func (in *instance) newDB(mutate func(*Config)) *DB {
	in.t.Helper()
	c := in.config()
	if mutate != nil {
		mutate(&c)
	}
	d, err := New(c, slog.New(slog.NewTextHandler(in.t.Output(), nil)))
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// pgctl runs pg_ctl by hand, the way an operator would.
func (in *instance) pgctl(args ...string) {
	in.t.Helper()
	argv := append([]string{filepath.Join(pgBinDir, "pg_ctl"), "-D", in.dir}, args...)
	if out, err := asPostgres(in.t, 60*time.Second, argv...); err != nil {
		log, _ := os.ReadFile(in.dir + ".log")
		in.t.Fatalf("%v: %v\n%s\nserver log:\n%s", argv, err, out, log)
	}
}

func (in *instance) start() {
	in.t.Helper()
	in.pgctl("-w", "-l", in.dir+".log", "start")
}

// startPrimary copies the template data directory and starts it.
func startPrimary(t *testing.T, base, name string) *instance {
	t.Helper()
	begin := time.Now()
	tmpl := template(t)
	in := newInstance(t, base, name)
	if out, err := exec.Command("cp", "-a", tmpl, in.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v: %s", err, out)
	}
	in.appendConf(perNodeConf(in.port, filepath.Join(base, name+"-sock")))
	in.start()
	t.Logf("harness: primary %s on :%d ready after %s", name, in.port, time.Since(begin))
	return in
}

// startStandby clones from with pg_basebackup -R and starts streaming.
func startStandby(t *testing.T, base, name string, from *instance) *instance {
	t.Helper()
	begin := time.Now()
	in := newInstance(t, base, name)
	out, err := asPostgres(t, 60*time.Second, filepath.Join(pgBinDir, "pg_basebackup"), "-h", "127.0.0.1",
		"-p", strconv.Itoa(from.port), "-U", "postgres", "-D", in.dir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	if err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	in.appendConf(perNodeConf(in.port, filepath.Join(base, name+"-sock")))
	in.start()
	t.Logf("harness: standby %s on :%d ready after %s", name, in.port, time.Since(begin))
	return in
}

// sql runs a statement over a fresh connection and returns the first
// column of the first row as text ("" for no rows).
func (in *instance) sql(q string, args ...any) (string, error) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := in.config().ConnConfig(testPassword)
	if err != nil {
		return "", err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return "", err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var s string
	if rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return "", err
		}
		if len(vals) > 0 && vals[0] != nil {
			s = fmt.Sprint(vals[0])
		}
	}
	rows.Close()
	return s, rows.Err()
}

func (in *instance) mustSQL(q string, args ...any) string {
	in.t.Helper()
	s, err := in.sql(q, args...)
	if err != nil {
		in.t.Fatalf("%s on %s: %v", q, in.name, err)
	}
	return s
}

// waitFor polls cond every 50 ms for up to timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplayed waits until standby has replayed primary's current LSN.
func waitReplayed(t *testing.T, primary, standby *instance) {
	t.Helper()
	target := mustLSN(t, primary.mustSQL("SELECT pg_current_wal_lsn()::text"))
	waitFor(t, 20*time.Second, standby.name+" replaying "+target.String(), func() (bool, error) {
		s, err := standby.sql("SELECT pg_last_wal_replay_lsn()::text")
		if err != nil || s == "" {
			return false, err
		}
		l, err := ParseLSN(s)
		return err == nil && l >= target, err
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustLSN(t *testing.T, s string) LSN {
	t.Helper()
	l, err := ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The servers of these tests ask for a password (scram-sha-256), for
// clients and replication alike: a wrong one is refused, and a standby
// streams with the passfile pg_basebackup -R wrote into primary_conninfo.
func TestHarnessUsesScram(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	if m := a.mustSQL("SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND 'replication' = ANY(database) LIMIT 1"); m != "scram-sha-256" {
		t.Errorf("replication over TCP authenticates with %q, want scram-sha-256", m)
	}
	if n := a.mustSQL("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'"); n != "0" {
		t.Errorf("%s pg_hba.conf rules trust", n)
	}
	bad := a.newDB(func(c *Config) { c.Password = "wrong" })
	if _, err := bad.Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Errorf("probe with a wrong password: %v, want SQLSTATE 28P01", err)
	}
	ci := b.mustSQL("SELECT current_setting('primary_conninfo')")
	if !strings.Contains(ci, "passfile=") {
		t.Errorf("standby's primary_conninfo %q has no passfile", ci)
	}
	waitFor(t, 20*time.Second, "b streaming", func() (bool, error) {
		s, err := b.sql("SELECT status FROM pg_stat_wal_receiver")
		return s == "streaming", err
	})
}

// primaryAndStandby starts primary a and its streaming standby b, and
// creates table t (v text) on a: the start of most two-server tests.
func primaryAndStandby(t *testing.T) (a, b *instance) {
	t.Helper()
	base := baseDir(t)
	a = startPrimary(t, base, "a")
	b = startStandby(t, base, "b", a)
	a.mustSQL("CREATE TABLE t (v text)")
	return a, b
}

// settingsOf reads standby s's replication settings, the ones a node
// following the same primary copies.
func settingsOf(t *testing.T, s *instance) ReplicationSettings {
	t.Helper()
	src, err := s.db.ReplicationSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return src
}
