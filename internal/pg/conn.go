package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is one database node: a connection policy plus the operations the
// agent runs against it. It is safe for concurrent use; SQL runs one
// statement at a time on the shared connection.
type DB struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	conn     *pgx.Conn
	checks   int    // health checks served by conn (db.reuse.connection.count)
	password string // cached result of PasswordFunc
	havePass bool

	// standbyTLI is the newest timeline a probe of this server in recovery
	// has seen: the WAL receiver's received_tli is gone the moment the
	// upstream is, which is exactly when a failover asks for it.
	standbyTLI atomic.Uint32
}

// New validates cfg (after defaults) and returns a DB; it does not connect.
func New(cfg Config, log *slog.Logger) (*DB, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{cfg: cfg, log: log.With("db", cfg.Node)}, nil
}

// Config returns the effective configuration (defaults applied).
func (d *DB) Config() Config { return d.cfg }

// Close drops the cached connection, if any.
func (d *DB) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropLocked(ctx)
}

func (d *DB) dropLocked(ctx context.Context) error {
	if d.conn == nil {
		return nil
	}
	c := d.conn
	d.conn, d.checks = nil, 0
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.QueryTimeout)
	defer cancel()
	return c.Close(ctx)
}

// quoteConnValue quotes a libpq keyword/value connection-string value.
func quoteConnValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// ConnString is the libpq keyword/value string for this node, without the
// password. It is what pgx parses and what a human can paste into psql.
func (c Config) ConnString() string {
	c = c.WithDefaults()
	parts := []string{
		"host=" + quoteConnValue(c.Host),
		"port=" + strconv.Itoa(c.Port),
		"user=" + quoteConnValue(c.User),
		"dbname=" + quoteConnValue(c.Database),
		"sslmode=" + quoteConnValue(c.SSLMode),
		"application_name='openefm'",
	}
	if c.SSLRootCert != "" {
		parts = append(parts, "sslrootcert="+quoteConnValue(c.SSLRootCert))
	}
	if c.SSLCert != "" {
		parts = append(parts, "sslcert="+quoteConnValue(c.SSLCert))
	}
	if c.SSLKey != "" {
		parts = append(parts, "sslkey="+quoteConnValue(c.SSLKey))
	}
	return strings.Join(parts, " ")
}

// ConnConfig builds the pgx configuration: sslmode, sslrootcert, sslcert
// and sslkey keep libpq's meaning (pgx implements them the libpq way), the
// connect timeout is ConnectTimeout, and the password is set directly so
// it never passes through a connection string.
func (c Config) ConnConfig(password string) (*pgx.ConnConfig, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(c.ConnString())
	if err != nil {
		return nil, fmt.Errorf("connection settings for %s: %w", c.Node, err)
	}
	cc.ConnectTimeout = c.ConnectTimeout
	if password != "" {
		cc.Password = password
	}
	return cc, nil
}

func (d *DB) passwordLocked(ctx context.Context) (string, error) {
	if d.cfg.PasswordFunc == nil {
		return d.cfg.Password, nil
	}
	if d.havePass {
		return d.password, nil
	}
	p, err := d.cfg.PasswordFunc(ctx)
	if err != nil {
		return "", fmt.Errorf("password for %s: %w", d.cfg.Node, err)
	}
	d.password, d.havePass = p, true
	return p, nil
}

// connectLocked opens a new connection within ConnectTimeout.
func (d *DB) connectLocked(ctx context.Context) (*pgx.Conn, error) {
	pw, err := d.passwordLocked(ctx)
	if err != nil {
		return nil, err
	}
	cc, err := d.cfg.ConnConfig(pw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		// The password may have rotated: ask the script again next time.
		d.havePass = false
		return nil, fmt.Errorf("connect to database %s (%s:%d): %w", d.cfg.Node, d.cfg.Host, d.cfg.Port, err)
	}
	return conn, nil
}

// withConn runs fn on a connection under QueryTimeout. Health checks count
// against ReuseConnectionCount; other calls use the cached connection when
// there is one. A connection that saw a non-SQL error is dropped, since it
// may be half-broken.
func (d *DB) withConn(ctx context.Context, healthCheck bool, fn func(context.Context, *pgx.Conn) error) error {
	return d.withConnTimeout(ctx, healthCheck, d.cfg.QueryTimeout, fn)
}

// withConnTimeout is withConn with a statement deadline other than
// QueryTimeout, for the few statements that legitimately run long
// (CHECKPOINT, pg_promote with wait).
//
// A health check that fails on a reused connection for a non-SQL reason
// (the server restarted since, say) is retried once on a fresh connection:
// a stale connection is not evidence that the database is down. Only health
// checks are retried (they are read-only), and not after a timeout, which
// keeps a health check's worst case at one QueryTimeout.
func (d *DB) withConnTimeout(ctx context.Context, healthCheck bool, timeout time.Duration, fn func(context.Context, *pgx.Conn) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	stale, err := d.onceLocked(ctx, healthCheck, timeout, fn)
	if err != nil && healthCheck && stale && ctx.Err() == nil && !isTimeout(err) {
		d.log.Debug("health check failed on a reused connection; retrying on a new one", "err", err)
		_, err = d.onceLocked(ctx, healthCheck, timeout, fn)
	}
	return err
}

// onceLocked runs fn once. stale reports that fn failed on a reused
// connection that is now broken (the server closed it, or it errored
// outside SQL), which says nothing about the server as it is now.
func (d *DB) onceLocked(ctx context.Context, healthCheck bool, timeout time.Duration, fn func(context.Context, *pgx.Conn) error) (stale bool, err error) {
	if d.conn != nil && (d.conn.IsClosed() || (healthCheck && d.checks >= d.cfg.ReuseConnectionCount)) {
		_ = d.dropLocked(ctx)
	}
	conn := d.conn
	reused := conn != nil
	if conn == nil {
		c, err := d.connectLocked(ctx)
		if err != nil {
			return false, err
		}
		conn = c
		if d.cfg.ReuseConnectionCount > 0 {
			d.conn, d.checks = c, 0
		}
	}
	if healthCheck && conn == d.conn {
		d.checks++
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	err = fn(qctx, conn)
	cancel()
	var pgErr *pgconn.PgError
	broken := err != nil && (!errors.As(err, &pgErr) || conn.IsClosed())
	switch {
	case conn != d.conn:
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.QueryTimeout)
		_ = conn.Close(cctx)
		ccancel()
	case broken:
		_ = d.dropLocked(ctx)
	}
	return reused && broken, err
}

// exec runs one statement (no result rows) with a deadline.
func (d *DB) exec(ctx context.Context, what, sql string, args ...any) error {
	err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s on %s: %w", what, d.cfg.Node, err)
	}
	return nil
}

// queryRow scans one row with a deadline.
func (d *DB) queryRow(ctx context.Context, what, sql string, args []any, dest ...any) error {
	err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, sql, args...).Scan(dest...)
	})
	if err != nil {
		return fmt.Errorf("%s on %s: %w", what, d.cfg.Node, err)
	}
	return nil
}

// Ping checks that a connection can be made and answers SELECT 1. It counts
// as a health check for connection reuse.
func (d *DB) Ping(ctx context.Context) error {
	err := d.withConn(ctx, true, func(ctx context.Context, c *pgx.Conn) error {
		var one int
		return c.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		return fmt.Errorf("ping %s: %w", d.cfg.Node, err)
	}
	return nil
}

// quoteLiteral quotes a string for SQL utility statements (ALTER SYSTEM
// takes no bind parameters). standard_conforming_strings is on since 9.1,
// so doubling quotes is enough; an E-string literal handles backslashes too.
func quoteLiteral(s string) string {
	if strings.Contains(s, `\`) {
		return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
