package pg

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything the package needs about one database node. The
// agent maps the EFM properties file onto it; zero values take the defaults
// documented on each field (see WithDefaults).
type Config struct {
	// Node names the database in errors and logs, e.g. "10.0.0.12".
	Node string

	// Connection (db.* and jdbc.sslmode properties).
	Host     string // address of the database; for the local node usually bind address or 127.0.0.1
	Port     int    // db.port
	User     string // db.user
	Database string // db.database
	// Password is the plain password; ignored when PasswordFunc is set.
	// For db.password.encrypted, pass DecryptPassword's result here.
	Password string
	// PasswordFunc, when set, supplies the password (script.db.password,
	// run by the agent through the hooks runner). It is called for the first connection and
	// again after any failed connection, because the password may have
	// rotated.
	PasswordFunc func(ctx context.Context) (string, error)
	SSLMode      string // jdbc.sslmode: disable (default), require, verify-ca, verify-full
	SSLRootCert  string // optional CA file for verify-ca/verify-full (jdbc.properties sslrootcert)
	// SSLCert and SSLKey are the client certificate and its key
	// (jdbc.properties sslcert, sslkey), for servers that authenticate
	// clients by certificate (pg_hba "cert" or clientcert=verify-*).
	SSLCert string
	SSLKey  string
	// ConnectTimeout bounds connection setup (default 10s).
	ConnectTimeout time.Duration
	// QueryTimeout bounds every statement on top of the caller's context
	// (default 10s, EFM's remote.timeout).
	QueryTimeout time.Duration
	// ReuseConnectionCount is db.reuse.connection.count: how many health
	// checks (Probe) share one connection; 0 opens a new one per check.
	ReuseConnectionCount int

	// Server control (db.bin, db.data.dir, db.config.dir, db.service.*).
	BinDir       string // db.bin: directory of pg_ctl, pg_rewind
	DataDir      string // db.data.dir: PGDATA
	ConfigDir    string // db.config.dir: dir of postgresql.conf, pg_ctl -D (default DataDir)
	ServiceOwner string // db.service.owner: OS user owning PGDATA (default "postgres")
	ServiceName  string // db.service.name: when set, systemctl start|stop|restart it instead of pg_ctl
	// SudoUserCommand is sudo.user.command ("sudo -u %u" in EFM), the prefix
	// that runs a command as ServiceOwner (%u). It is skipped when its
	// program is not installed and the agent is root (then process
	// credentials are used) or is the owner. When empty: no prefix for the
	// owner, credentials for root, "sudo -n -u %u" otherwise.
	SudoUserCommand string
	// LogFile is pg_ctl's -l (default <DataDir>/openefm-pg_ctl.log). It
	// also keeps the postmaster from inheriting the agent's pipes.
	LogFile string
	// CtlTimeout bounds each pg_ctl/systemctl call (default 60s).
	CtlTimeout time.Duration

	// Timers (recovery.check.period, restart.connection.timeout).
	RecoveryCheckPeriod      time.Duration // default 1s
	RestartConnectionTimeout time.Duration // default 60s

	// Reconfiguration (application.name, restore.command).
	ApplicationName string
	RestoreCommand  string // %h is replaced by the new primary's host
}

// WithDefaults returns a copy with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.Node == "" {
		c.Node = c.Host
	}
	if c.Port == 0 {
		c.Port = 5432
	}
	if c.SSLMode == "" {
		c.SSLMode = "disable"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 10 * time.Second
	}
	if c.ConfigDir == "" {
		c.ConfigDir = c.DataDir
	}
	if c.ServiceOwner == "" {
		c.ServiceOwner = "postgres"
	}
	if c.LogFile == "" && c.DataDir != "" {
		c.LogFile = filepath.Join(c.DataDir, "openefm-pg_ctl.log")
	}
	if c.CtlTimeout <= 0 {
		c.CtlTimeout = 60 * time.Second
	}
	if c.RecoveryCheckPeriod <= 0 {
		c.RecoveryCheckPeriod = time.Second
	}
	if c.RestartConnectionTimeout <= 0 {
		c.RestartConnectionTimeout = 60 * time.Second
	}
	return c
}

// sslModes are the jdbc.sslmode values EFM accepts; pgx implements each
// with libpq's meaning (require = encrypt without verifying, unless a root
// certificate is given, verify-ca = check the chain, verify-full = chain and
// host name).
var sslModes = []string{"disable", "require", "verify-ca", "verify-full"}

// Validate reports the first field that cannot work, naming it and what is
// accepted.
func (c Config) Validate() error {
	ok := false
	for _, m := range sslModes {
		if c.SSLMode == m {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("pg config for %s: sslmode %q: accepted values are %s", c.Node, c.SSLMode, strings.Join(sslModes, ", "))
	}
	if c.Host == "" {
		return fmt.Errorf("pg config for %s: host is empty", c.Node)
	}
	if c.Port <= 0 || c.Port > 65535 {
		return fmt.Errorf("pg config for %s: port %d: want 1-65535", c.Node, c.Port)
	}
	if c.User == "" {
		return fmt.Errorf("pg config for %s: user (db.user) is empty", c.Node)
	}
	if c.Database == "" {
		return fmt.Errorf("pg config for %s: database (db.database) is empty", c.Node)
	}
	if c.ReuseConnectionCount < 0 {
		return fmt.Errorf("pg config for %s: db.reuse.connection.count %d: want 0 or more", c.Node, c.ReuseConnectionCount)
	}
	return nil
}
