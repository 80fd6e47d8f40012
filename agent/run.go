package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/openefm/efm/fencing"
	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/membership"
	"github.com/openefm/efm/internal/metrics"
	"github.com/openefm/efm/internal/notify"
	"github.com/openefm/efm/internal/pg"
)

// Options are the process-level knobs of Run.
type Options struct {
	Stderr io.Writer
	// Warnings from loading the configuration, logged once at start.
	Warnings []string
}

// leaveTimeout bounds the goodbye to the cluster on a clean stop.
const leaveTimeout = 3 * time.Second

// Run is the agent process: it holds the cluster lock and runs until ctx is
// done (SIGTERM) or the cluster is stopped with efm stop-cluster.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	logDir := cfg.LogDir
	if !cfg.FileLogEnabled {
		logDir = ""
	}
	base, closeLog, err := OpenLog(opts.Stderr, cfg.EFMLogLevel, logDir, cfg.Cluster)
	if err != nil {
		return err
	}
	defer closeLog.Close()
	log := base.With("cluster", cfg.Cluster, "node", cfg.BindAddress.Host)

	lock, err := AcquireLock(cfg.LockPath())
	if err != nil {
		return err
	}
	defer lock.Release()
	if lock.StalePID != 0 {
		log.Warn("took over a stale lock file left by an agent that is gone", "lock", lock.Path(), "pid", lock.StalePID)
	}
	if err := WritePIDFile(cfg.PidPath()); err != nil {
		return err
	}
	defer os.Remove(cfg.PidPath())
	for _, w := range opts.Warnings {
		log.Warn(w)
	}

	if errs := Preflight(ctx, cfg); len(errs) > 0 {
		for _, err := range errs {
			log.Error("start check failed", "err", err)
		}
		return PreflightError(errs)
	}
	st, persisted, releaseState, err := openState(cfg.StatePath(), cfg.Cluster, cfg.BindAddress.Host, log)
	if err != nil {
		return err
	}
	defer releaseState()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, closeAll, err := build(ctx, cfg, st, persisted, log, base)
	if err != nil {
		return err
	}
	h := &handler{s: s, roster: s.roster, vipAddr: cfg.VirtualIP, minStandbys: cfg.MinimumStandbys}
	srv, err := admin.Listen(cfg.SocketPath(), h, log)
	if err != nil {
		closeAll(false)
		return err
	}
	go srv.Serve(ctx)
	log.Info("agent started", "kind", s.node.Params().Kind, "pid", os.Getpid(), "admin", srv.Path(),
		"lease", s.node.Timing().Lease, "tick", s.node.Params().TickInterval())

	s.startCustomMonitor(ctx, cfg, s.runner)
	s.run(ctx)
	stopCluster := false
	select {
	case <-s.stopCl:
		stopCluster = true
	default:
	}
	log.Info("agent stopping", "stop_cluster", stopCluster)
	// A clean stop is not a failure: the core says goodbye (a primary
	// keeps its database and VIP, as EFM's does), then the membership
	// tells the others the agent left rather than failed.
	s.stopping(context.WithoutCancel(ctx))
	srv.Close()
	cancel()
	closeAll(true)
	log.Info("agent stopped")
	return nil
}

// requestStop ends the loop after stop-cluster.
func (s *shell) requestStop() { s.stopOnce.Do(func() { close(s.stopCl) }) }

// build creates every component of the shell from the configuration.
// st is the agent's locked state file and persisted what it held.
func build(ctx context.Context, cfg *config.Config, st stateFile, persisted core.Persisted, log, base *slog.Logger) (*shell, func(leave bool), error) {
	params := coreParams(cfg)
	node, err := core.New(params, persisted)
	if err != nil {
		return nil, nil, err
	}

	// Preflight has run: the ping command works and the VIP's interface
	// exists. Only a node that will probe or hold a VIP needs fencing, so a
	// witness, or a node with neither, starts without a ping program.
	var fm *fencing.Manager
	if usesPing(cfg) {
		if fm, err = fencing.NewManager(fencingConfig(cfg, log.With("component", "fencing"))); err != nil {
			return nil, nil, err
		}
	}

	var key []byte
	if cfg.EncryptAgentMessages {
		if key, err = agentKey(cfg); err != nil {
			return nil, nil, fmt.Errorf("encrypt.agent.messages=true: %w", err)
		}
	}
	nodes, err := config.ReadNodes(cfg.NodesPath())
	if errors.Is(err, fs.ErrNotExist) {
		// EFM's first node may start with an empty .nodes file; a missing
		// one is the same, but worth a line.
		log.Warn("no nodes file: starting as the first node of the cluster", "file", cfg.NodesPath())
	} else if err != nil {
		return nil, nil, err
	}
	var join []string
	for _, n := range nodes {
		join = append(join, n.String())
	}
	kind := membership.KindDatabase
	if cfg.IsWitness {
		kind = membership.KindWitness
	}
	advertise := ""
	if cfg.ExternalAddress != "" {
		advertise = config.HostPort{Host: cfg.ExternalAddress, Port: cfg.BindAddress.Port}.String()
	}
	ml, err := membership.New(membership.Config{
		Cluster: cfg.Cluster, BindAddr: cfg.BindAddress.String(), AdvertiseAddr: advertise,
		Join: join, Kind: kind, NodesFile: cfg.NodesPath(), StableNodesFile: cfg.StableNodesFile,
		AutoAllowHosts: cfg.AutoAllowHosts, NodeTimeout: cfg.NodeTimeout,
		Encrypt: cfg.EncryptAgentMessages, Key: key, Logger: base.With("component", "membership"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("joining cluster %s: %w", cfg.Cluster, err)
	}

	s := &shell{
		log: log, node: node, self: params.Self, clust: cfg.Cluster, start: time.Now(),
		state: st, events: make(chan core.Event, 256), calls: make(chan adminCall),
		dbq: make(chan func(), 256), stopCl: make(chan struct{}), replies: map[uint64]chan core.AdminReply{},
		role: node.Role(),
	}
	s.net = newTransport(ctx, ml)
	s.roster = ml
	if fm != nil && cfg.VirtualIP != "" {
		s.vip = &fencingVIP{m: fm, log: log, ip: cfg.VirtualIP}
	}
	if fm != nil && cfg.PingServerIP != "" {
		s.ping = &pingServer{m: fm, ip: cfg.PingServerIP}
	}

	runner := &hooks.Runner{Logger: log.With("component", "hooks"), Cluster: cfg.Cluster,
		Node: cfg.BindAddress.Host, VIP: cfg.VirtualIP, DBServiceOwner: cfg.DBServiceOwner}
	pgc := pgConfig(cfg, runner)
	s.remote = &pgRemote{base: pgc, log: log.With("component", "pg-remote"), dbs: map[string]*pg.DB{}}
	if !cfg.IsWitness {
		db, err := pg.New(pgc, log.With("component", "pg"))
		if err != nil {
			ml.Shutdown()
			return nil, nil, err
		}
		s.db = &pgLocal{db: db, port: cfg.DBPort, restartTimeout: cfg.RestartConnectionTimeout}
	}

	s.runner = runner
	s.scripts = &hookRunner{r: runner, commands: scriptCommands(cfg), nodeType: func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return strings.ToLower(displayRole(s.role))
	}}
	level, err := notify.ParseLevel(cfg.NotificationLevel)
	if err != nil {
		ml.Shutdown()
		return nil, nil, fmt.Errorf("notification.level: %w", err)
	}
	nt := notify.New(notify.Config{
		Cluster: cfg.Cluster, Node: cfg.BindAddress.Host, DatabaseName: cfg.DBDatabase,
		VIP: cfg.VirtualIP, VIPActive: func() bool {
			if s.vip == nil {
				return false
			}
			held, err := s.vip.Held()
			return err == nil && held
		},
		Level: level, TextPrefix: cfg.NotificationTextPrefix,
		UserEmail: strings.Join(cfg.UserEmail, " "), FromEmail: cfg.FromEmail,
		ScriptCommand: cfg.ScriptNotification,
	}, runner, log.With("component", "notify"))
	s.notify = notifyAdapter{n: nt}

	if !cfg.MetricsAddress.IsZero() {
		s.metrics = metrics.New(cfg.Cluster, cfg.BindAddress.Host, func() bool {
			if s.vip == nil {
				return false
			}
			held, err := s.vip.Held()
			return err == nil && held
		})
		if err := s.metrics.Serve(ctx, cfg.MetricsAddress.String(), log); err != nil {
			ml.Shutdown()
			return nil, nil, err
		}
	}

	closeAll := func(leave bool) {
		s.wg.Wait()
		if leave {
			if err := s.net.Leave(leaveTimeout); err != nil {
				log.Warn("leaving the cluster", "err", err)
			}
		}
		s.net.Shutdown()
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nt.Close(cctx)
		if s.db != nil {
			s.db.Close(cctx)
		}
	}
	return s, closeAll, nil
}

// fencingConfig is the fencing part of the configuration; Preflight tests
// the ping command with it too.
func fencingConfig(cfg *config.Config, log *slog.Logger) fencing.Config {
	return fencing.Config{
		VirtualIP: cfg.VirtualIP, Interface: cfg.VirtualIPInterface, Prefix: cfg.VirtualIPPrefix,
		ReleasePreWait: cfg.ReleaseVIPPreWait, ReleasePostWait: cfg.ReleaseVIPPostWait,
		PingCommand: cfg.PingServerCommand, PingTimeout: cfg.PingProbeDeadline(), Logger: log,
	}
}

func pgConfig(cfg *config.Config, runner *hooks.Runner) pg.Config {
	host := cfg.DBHost
	if host == "" {
		host = cfg.BindAddress.Host
	}
	c := pg.Config{
		Node: cfg.BindAddress.Host, Host: host, Port: cfg.DBPort, User: cfg.DBUser, Database: cfg.DBDatabase,
		SSLMode: cfg.JDBCSSLMode, ConnectTimeout: cfg.RemoteTimeout, QueryTimeout: cfg.RemoteTimeout,
		ReuseConnectionCount: cfg.DBReuseConnectionCount,
		BinDir:               cfg.DBBin, DataDir: cfg.DBDataDir, ConfigDir: cfg.DBConfigDir,
		ServiceOwner: cfg.DBServiceOwner, ServiceName: cfg.DBServiceName, SudoUserCommand: cfg.SudoUserCommand,
		RecoveryCheckPeriod: cfg.RecoveryCheckPeriod, RestartConnectionTimeout: cfg.RestartConnectionTimeout,
		ApplicationName: cfg.ApplicationName, RestoreCommand: cfg.RestoreCommand,
	}
	c.SSLRootCert = cfg.JDBCProperties["sslrootcert"]
	c.SSLCert, c.SSLKey = cfg.JDBCProperties["sslcert"], cfg.JDBCProperties["sslkey"]
	switch {
	case cfg.ScriptDBPassword != "":
		// The hooks runner splits the command line as EFM's other script
		// properties are split, and keeps the password out of every log.
		script, encrypted, cluster, timeout := cfg.ScriptDBPassword, cfg.ScriptDBPasswordEncrypted, cfg.Cluster, cfg.RemoteTimeout
		c.PasswordFunc = func(ctx context.Context) (string, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res := runner.Run(ctx, hooks.DBPassword, script, hooks.Vars{})
			if !res.OK() {
				return "", fmt.Errorf("script.db.password %s: %w", script, res.Err)
			}
			pw := strings.TrimRight(string(res.Secret), "\r\n")
			if encrypted {
				return pg.DecryptPassword(cluster, pw)
			}
			return pw, nil
		}
	case cfg.DBPasswordEncrypted != "":
		cluster, token := cfg.Cluster, cfg.DBPasswordEncrypted
		c.PasswordFunc = func(context.Context) (string, error) {
			pw, err := pg.DecryptPassword(cluster, token)
			if err != nil {
				return "", fmt.Errorf("db.password.encrypted: %w (encrypt it again with 'efm encrypt %s')", err, cluster)
			}
			return pw, nil
		}
	}
	return c
}

func scriptCommands(cfg *config.Config) map[core.Script]string {
	return map[core.Script]string{
		core.ScriptFence:              cfg.ScriptFence,
		core.ScriptPostPromotion:      cfg.ScriptPostPromotion,
		core.ScriptRemotePrePromote:   cfg.ScriptRemotePrePromotion,
		core.ScriptRemotePostPromote:  cfg.ScriptRemotePostPromotion,
		core.ScriptResumed:            cfg.ScriptResumed,
		core.ScriptDBFailure:          cfg.ScriptDBFailure,
		core.ScriptPrimaryIsolated:    cfg.ScriptPrimaryIsolated,
		core.ScriptLoadBalancerAttach: cfg.ScriptLoadBalancerAttach,
		core.ScriptLoadBalancerDetach: cfg.ScriptLoadBalancerDetach,
	}
}
