package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openefm/efm/fencing"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/membership"
	"github.com/openefm/efm/internal/pg"
	"github.com/openefm/efm/internal/pgpool"
)

// selfTestTimeout bounds the ping command's self-test.
const selfTestTimeout = 15 * time.Second

// PreflightError is every problem Preflight found, one line each.
type PreflightError []error

func (e PreflightError) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

func (e PreflightError) Unwrap() []error { return e }

// Preflight checks what the configuration refers to on this node, which
// loading the file cannot: the agent key, the VIP's interface, the ping
// command (and that it works), every script, the password token and the
// TLS files. The agent runs it at start and refuses to start on any
// problem; `efm check-conf` runs the same function, so what check-conf
// accepts the agent accepts. Every problem is one line naming the key.
func Preflight(ctx context.Context, cfg *config.Config) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &config.Problem{File: cfg.Path, Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if cfg.EncryptAgentMessages {
		if _, err := agentKey(cfg); err != nil {
			add("encrypt.agent.messages", "%v", err)
		}
	}

	if holdsVIP(cfg) {
		if _, err := net.InterfaceByName(cfg.VirtualIPInterface); err != nil {
			add("virtual.ip.interface", "no interface %q on this node, so virtual.ip %s cannot be added; accepted: one of %s", cfg.VirtualIPInterface, cfg.VirtualIP, interfaceNames())
		}
	}

	if usesPing(cfg) {
		// Without a working ping every probe reads "unreachable": the VIP
		// check would call a held VIP free and the ping.server.ip check
		// would call this node isolated. The probe needs no VIP, so the
		// check runs without one (its interface is checked above).
		fc := fencingConfig(cfg, slog.New(slog.DiscardHandler))
		fc.VirtualIP, fc.Interface = "", ""
		fm, err := fencing.NewManager(fc)
		if err != nil {
			add("ping.server.command", "%v", err)
		} else {
			tctx, cancel := context.WithTimeout(ctx, selfTestTimeout)
			err := fm.SelfTest(tctx)
			cancel()
			if err != nil {
				add("ping.server.command", "does not work on this node, so the VIP and ping.server.ip checks would lie: %v", err)
			}
		}
	}

	for _, k := range hooks.Kinds {
		line, _ := cfg.Value(string(k))
		if line == "" {
			continue
		}
		if err := checkProgram(line); err != nil {
			add(string(k), "%v", err)
		}
	}

	if cfg.DBPasswordEncrypted != "" && cfg.ScriptDBPassword == "" {
		if _, err := pg.DecryptPassword(cfg.Cluster, cfg.DBPasswordEncrypted); errors.Is(err, pg.ErrEFMToken) {
			add("db.password.encrypted", "made by EDB Failover Manager, whose token OpenEFM cannot read; run `efm encrypt %s` here and put its output in this key", cfg.Cluster)
		} else if err != nil {
			add("db.password.encrypted", "%v", err)
		}
	}

	if cfg.PrimaryHealthCheckPort != 0 {
		if err := checkHealthPort(cfg); err != nil {
			add("primary.health.check.port", "%v", err)
		}
	}

	if cfg.PgpoolEnable {
		for _, k := range pcpKeys {
			if v, _ := cfg.Value(k.key); v == "" {
				add(k.key, "not set, and pgpool.enable=true runs Pgpool's PCP commands with it; accepted: %s", k.accepted)
			}
		}
		if cfg.PCPPassFile != "" {
			if err := pgpool.CheckPassFile(cfg.PCPPassFile); err != nil {
				add("pcp.pass.file", "%v", err)
			}
		}
		if err := pgpool.CheckPrograms(cfg.PgpoolBin); err != nil {
			add("pgpool.bin", "%v", err)
		}
	}

	if cfg.AutoRewind && !cfg.IsWitness {
		if err := checkRewindable(ctx, cfg); err != nil {
			add("auto.rewind", "%v", err)
		}
	}

	for _, name := range []string{"sslrootcert", "sslcert", "sslkey"} {
		if p := cfg.JDBCProperties[name]; p != "" {
			if f, err := os.Open(p); err != nil {
				add("jdbc.properties", "%s: %v", name, err)
			} else {
				f.Close()
			}
		}
	}
	return errs
}

// pcpKeys are what pgpool.enable=true needs, with what each accepts.
var pcpKeys = []struct{ key, accepted string }{
	{"pcp.user", "a user of Pgpool's pcp.conf"},
	{"pcp.host", "the address of Pgpool (or of its watchdog VIP)"},
	{"pcp.port", "Pgpool's pcp_port (9898 by default)"},
	{"pcp.pass.file", "a file of host:port:user:password lines, mode 0600"},
}

// agentKey reads the cluster key for encrypt.agent.messages.
func agentKey(cfg *config.Config) ([]byte, error) {
	path := cfg.AgentKeyFile
	if path == "" {
		path = filepath.Join(cfg.Dir, cfg.Cluster+".key")
	}
	key, err := membership.ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (create one with 'efm generate-key %s')", err, cfg.Cluster)
	}
	return key, nil
}

// checkProgram splits a script property as the hooks runner does and
// requires its program to be an executable regular file.
func checkProgram(line string) error {
	argv, err := hooks.Split(line)
	if err != nil {
		return err
	}
	if err := hooks.CheckExecutable(argv[0]); err != nil {
		return fmt.Errorf("program %w", err)
	}
	return nil
}

// interfaceNames lists this node's interfaces for an error message.
func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return "an interface of this node (ip link)"
	}
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	return strings.Join(names, ", ")
}

// checkHealthPort refuses a health port another listener of this agent
// uses, or one already taken on this node: the agent would fail to start
// on it after joining nothing, and check-conf should say so first.
func checkHealthPort(cfg *config.Config) error {
	port, addr := cfg.PrimaryHealthCheckPort, healthAddress(cfg)
	if port == cfg.BindAddress.Port {
		return fmt.Errorf("port %d is also bind.address's (%s), where the agents talk; accepted: another free port", port, cfg.BindAddress)
	}
	if m := cfg.MetricsAddress; !m.IsZero() && m.Port == port && sameListenHost(m.Host, cfg.BindAddress.Host) {
		return fmt.Errorf("port %d is also metrics.address's (%s) on the same address; accepted: another free port, or no metrics.address and /metrics is served on this port", port, m)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v (if this cluster's agent runs here, it holds the port: check-conf checks a stopped agent's configuration); accepted: a free port", addr, unwrapSyscall(err))
	}
	ln.Close()
	return nil
}

// sameListenHost: two listeners on these hosts with one port would clash;
// a wildcard address clashes with every address.
func sameListenHost(a, b string) bool {
	if a == b {
		return true
	}
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	return errA == nil && pa.IsUnspecified() || errB == nil && pb.IsUnspecified() ||
		errA == nil && errB == nil && pa.Unmap() == pb.Unmap()
}

// unwrapSyscall drops the *net.OpError's repetition of the address.
func unwrapSyscall(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// checkRewindable asks the local data directory whether pg_rewind could
// work on it (wal_log_hints or checksums).
func checkRewindable(ctx context.Context, cfg *config.Config) error {
	db, err := pg.New(pgConfig(cfg, nil), nil)
	if err != nil {
		return err
	}
	return db.CheckRewindable(ctx)
}
