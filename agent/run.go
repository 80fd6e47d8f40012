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

// closeTimeout bounds waiting for queued notifications and the database
// connection on the way out.
const closeTimeout = 5 * time.Second

// Run is the agent process: it holds the cluster lock and runs until ctx is
// done (SIGTERM) or the cluster is stopped with efm stop-cluster.
//
// It starts in named stages (see stages), runs the shell's loop, and on the
// way out undoes what the stages set up, last first: the same undo after a
// clean stop as after a stage that fails, so no error path can forget a
// piece.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &process{cfg: cfg, opts: opts, cancel: cancel}
	defer p.undo.run()
	if err := p.start(ctx, p.stages()); err != nil {
		return err
	}
	p.serve(ctx)
	return nil
}

// process is one agent process as its stages build it.
type process struct {
	cfg    *config.Config
	opts   Options
	cancel context.CancelFunc // ends every goroutine of the agent

	base  *slog.Logger // the logger without the agent's attributes, for components that add their own
	log   *slog.Logger
	state stateFile
	saved core.Persisted // what the state file held at start
	s     *shell
	admin *admin.Server
	// clean is set when the loop ends on a stop rather than a failed
	// start: only then does the agent say goodbye to the cluster.
	clean bool
	undo  undoStack
}

// undoStack is what the stages have set up, undone last first.
type undoStack []func()

// push records how to undo what a stage has just set up. A stage pushes
// right after each piece it acquires, before anything that can fail.
func (u *undoStack) push(fn func()) { *u = append(*u, fn) }

// run undoes everything pushed so far, last first.
func (u *undoStack) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

// stage is one step of the start. It pushes on p.undo whatever it sets up.
type stage struct {
	name string
	run  func(ctx context.Context) error
}

// stages are the agent's start in order. The order is the argument; each
// stage's comment says why it stands where it does.
func (p *process) stages() []stage {
	return []stage{
		{"open log", p.openLog},
		{"take lock", p.takeLock},
		{"preflight", p.preflight},
		{"load state", p.loadState},
		{"set up core", p.setupCore},
		{"set up fencing", p.setupFencing},
		{"set up hooks", p.setupHooks},
		{"set up database", p.setupDatabase},
		{"set up notify", p.setupNotify},
		{"join membership", p.joinMembership},
		{"serve metrics", p.serveMetrics},
		{"serve health", p.serveHealth},
		{"serve admin", p.serveAdmin},
	}
}

// start runs the stages in order and stops at the first that fails; Run's
// deferred undo then releases what the stages before it set up.
func (p *process) start(ctx context.Context, stages []stage) error {
	for _, st := range stages {
		if err := st.run(ctx); err != nil {
			if p.log != nil {
				p.log.Debug("agent start failed", "stage", st.name, "err", err)
			}
			return err
		}
	}
	return nil
}

// openLog comes first, so that every later stage can log why it failed.
func (p *process) openLog(context.Context) error {
	cfg := p.cfg
	logDir := cfg.LogDir
	if !cfg.FileLogEnabled {
		logDir = ""
	}
	base, closeLog, err := OpenLog(p.opts.Stderr, cfg.EFMLogLevel, logDir, cfg.Cluster)
	if err != nil {
		return err
	}
	p.undo.push(func() {
		if p.clean {
			p.log.Info("agent stopped")
		}
		closeLog.Close()
	})
	p.base = base
	p.log = base.With("cluster", cfg.Cluster, "node", cfg.BindAddress.Host)
	return nil
}

// takeLock holds the cluster lock before anything that can act or write:
// a second agent for the same cluster on this node stops here, having
// touched nothing of the first one's. The pid file is written under the
// lock, so it always names the agent that holds it.
func (p *process) takeLock(context.Context) error {
	lock, err := AcquireLock(p.cfg.LockPath())
	if err != nil {
		return err
	}
	p.undo.push(func() { lock.Release() })
	if lock.StalePID != 0 {
		p.log.Warn("took over a stale lock file left by an agent that is gone", "lock", lock.Path(), "pid", lock.StalePID)
	}
	if err := WritePIDFile(p.cfg.PidPath()); err != nil {
		return err
	}
	p.undo.push(func() { os.Remove(p.cfg.PidPath()) })
	return nil
}

// preflight runs the start checks efm check-conf runs (one function for
// both), before any component is built from the configuration: fencing
// relies on it having proved the ping command and the VIP's interface.
func (p *process) preflight(ctx context.Context) error {
	for _, w := range p.opts.Warnings {
		p.log.Warn(w)
	}
	if errs := Preflight(ctx, p.cfg); len(errs) > 0 {
		for _, err := range errs {
			p.log.Error("start check failed", "err", err)
		}
		return PreflightError(errs)
	}
	return nil
}

// loadState locks this node's state file and reads the epoch and vote it
// holds, before the core exists: a core started without them could vote
// twice in one epoch.
func (p *process) loadState(context.Context) error {
	cfg := p.cfg
	st, saved, release, err := openState(cfg.StatePath(), cfg.Cluster, cfg.BindAddress.Host, p.log)
	if err != nil {
		return err
	}
	p.undo.push(release)
	p.state, p.saved = st, saved
	return nil
}

// setupCore builds the failover core from the configuration and the
// loaded state, and the shell around it; the stages after it give the
// shell its pieces. Nothing runs yet.
func (p *process) setupCore(context.Context) error {
	params := coreParams(p.cfg)
	node, err := core.New(params, p.saved)
	if err != nil {
		return err
	}
	p.s = &shell{
		log: p.log, node: node, self: params.Self, clust: p.cfg.Cluster, start: time.Now(),
		state: p.state, events: make(chan core.Event, 256), calls: make(chan adminCall),
		dbq: make(chan func(), 256), stopCl: make(chan struct{}), replies: map[uint64]chan core.AdminReply{},
		role: node.Role(),
	}
	if p.cfg.PgpoolEnable {
		pp, err := newPgpoolShell(p.cfg, p.log.With("component", "pgpool"))
		if err != nil {
			return err
		}
		p.s.pgpool, p.s.pgq = pp, make(chan func(), 64)
	}
	return nil
}

// setupFencing comes after preflight, which proved the ping command works
// and the VIP's interface exists. Only a node that will probe or hold a
// VIP needs fencing, so a witness, or a node with neither, starts without
// a ping program.
func (p *process) setupFencing(context.Context) error {
	cfg := p.cfg
	if !usesPing(cfg) {
		return nil
	}
	fm, err := fencing.NewManager(fencingConfig(cfg, p.log.With("component", "fencing")))
	if err != nil {
		return err
	}
	if holdsVIP(cfg) {
		p.s.vip = &fencingVIP{m: fm, log: p.log, ip: cfg.VirtualIP}
	}
	if cfg.PingServerIP != "" {
		p.s.ping = &pingServer{m: fm, ip: cfg.PingServerIP}
	}
	return nil
}

// setupHooks comes before the database and the notifications, which run
// scripts through it (script.db.password, script.notification).
func (p *process) setupHooks(context.Context) error {
	cfg, s := p.cfg, p.s
	s.runner = &hooks.Runner{Logger: p.log.With("component", "hooks"), Cluster: cfg.Cluster,
		Node: cfg.BindAddress.Host, VIP: cfg.VirtualIP, DBServiceOwner: cfg.DBServiceOwner}
	s.scripts = &hookRunner{r: s.runner, commands: scriptCommands(cfg), nodeType: s.nodeType}
	return nil
}

// setupDatabase builds the connections to the local database and, with
// the same settings, to the other nodes' (a witness has only the latter).
func (p *process) setupDatabase(context.Context) error {
	cfg, s := p.cfg, p.s
	pgc := pgConfig(cfg, s.runner)
	remote := &pgRemote{base: pgc, log: p.log.With("component", "pg-remote"), dbs: map[string]*pg.DB{}}
	s.remote = remote
	if !hasLocalDB(cfg) {
		return nil
	}
	db, err := pg.New(pgc, p.log.With("component", "pg"))
	if err != nil {
		return err
	}
	local := &pgLocal{db: db, port: cfg.DBPort, restartTimeout: cfg.RestartConnectionTimeout, remote: remote,
		self: cfg.BindAddress.Host}
	p.undo.push(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		local.Close(ctx)
	})
	s.db = local
	return nil
}

// setupNotify comes after fencing (a notification says whether this node
// holds the VIP) and the hooks (script.notification).
func (p *process) setupNotify(context.Context) error {
	cfg, s := p.cfg, p.s
	level, err := notify.ParseLevel(cfg.NotificationLevel)
	if err != nil {
		return fmt.Errorf("notification.level: %w", err)
	}
	nt := notify.New(notify.Config{
		Cluster: cfg.Cluster, Node: cfg.BindAddress.Host, DatabaseName: cfg.DBDatabase,
		VIP: cfg.VirtualIP, VIPActive: s.vipHeld,
		Level: level, TextPrefix: cfg.NotificationTextPrefix,
		UserEmail: strings.Join(cfg.UserEmail, " "), FromEmail: cfg.FromEmail,
		ScriptCommand: cfg.ScriptNotification,
	}, s.runner, p.log.With("component", "notify"))
	p.undo.push(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		nt.Close(ctx)
	})
	s.notify = notifyAdapter{n: nt}
	return nil
}

// joinMembership comes after every local piece is built: from here on the
// cluster counts this node, so a piece that cannot be built stops the agent
// before the others ever see it. Its undo ends the agent's goroutines
// first, since they send through the membership and use the database.
func (p *process) joinMembership(ctx context.Context) error {
	cfg, log := p.cfg, p.log
	var key []byte
	if cfg.EncryptAgentMessages {
		var err error
		if key, err = agentKey(cfg); err != nil {
			return fmt.Errorf("encrypt.agent.messages=true: %w", err)
		}
	}
	nodes, err := config.ReadNodes(cfg.NodesPath())
	if errors.Is(err, fs.ErrNotExist) {
		// EFM's first node may start with an empty .nodes file; a missing
		// one is the same, but worth a line.
		log.Warn("no nodes file: starting as the first node of the cluster", "file", cfg.NodesPath())
	} else if err != nil {
		return err
	}
	var join []string
	for _, n := range nodes {
		join = append(join, n.String())
	}
	advertise := ""
	if cfg.ExternalAddress != "" {
		advertise = config.HostPort{Host: cfg.ExternalAddress, Port: cfg.BindAddress.Port}.String()
	}
	ml, err := membership.New(membership.Config{
		Cluster: cfg.Cluster, BindAddr: cfg.BindAddress.String(), AdvertiseAddr: advertise,
		Join: join, Kind: membershipKind(cfg), NodesFile: cfg.NodesPath(), StableNodesFile: cfg.StableNodesFile,
		AutoAllowHosts: cfg.AutoAllowHosts, NodeTimeout: cfg.NodeTimeout,
		Encrypt: cfg.EncryptAgentMessages, Key: key, Logger: p.base.With("component", "membership"),
	})
	if err != nil {
		return fmt.Errorf("joining cluster %s: %w", cfg.Cluster, err)
	}
	s := p.s
	s.net = newTransport(ctx, ml)
	s.roster = ml
	p.undo.push(func() {
		p.cancel()
		s.wg.Wait()
		if p.clean {
			if err := s.net.Leave(leaveTimeout); err != nil {
				log.Warn("leaving the cluster", "err", err)
			}
		}
		s.net.Shutdown()
	})
	return nil
}

// serveMetrics listens on metrics.address, if set; the listener closes
// when the agent's context ends, in joinMembership's undo. Without
// metrics.address, primary.health.check.port serves /metrics.
func (p *process) serveMetrics(ctx context.Context) error {
	cfg, s := p.cfg, p.s
	if cfg.MetricsAddress.IsZero() && cfg.PrimaryHealthCheckPort == 0 {
		return nil
	}
	s.metrics = metrics.New(cfg.Cluster, cfg.BindAddress.Host, s.vipHeld)
	if cfg.MetricsAddress.IsZero() {
		return nil
	}
	return s.metrics.Serve(ctx, cfg.MetricsAddress.String(), p.log)
}

// serveAdmin comes last: an efm command reaches the agent only once every
// piece it can ask about exists. Its undo runs first, so no new command
// arrives while the pieces behind it close.
func (p *process) serveAdmin(ctx context.Context) error {
	cfg, s := p.cfg, p.s
	h := &handler{s: s, roster: s.roster, vipAddr: cfg.VirtualIP, minStandbys: cfg.MinimumStandbys, dbPort: cfg.DBPort}
	srv, err := admin.Listen(cfg.SocketPath(), h, p.log)
	if err != nil {
		return err
	}
	p.undo.push(func() { srv.Close() })
	p.admin = srv
	go srv.Serve(ctx)
	return nil
}

// serve runs the shell's loop until the agent is told to stop, then lets
// the core say goodbye. Run's undo then closes the pieces, leaving the
// cluster on the way.
func (p *process) serve(ctx context.Context) {
	s, log := p.s, p.log
	log.Info("agent started", "kind", s.node.Params().Kind, "pid", os.Getpid(), "admin", p.admin.Path(),
		"lease", s.node.Timing().Lease, "tick", s.node.Params().TickInterval())
	if unsafeBuild != "" {
		log.Error(unsafeBuild)
	}
	s.startCustomMonitor(ctx, p.cfg, s.runner)
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
	p.clean = true
}

// requestStop ends the loop after stop-cluster.
func (s *shell) requestStop() { s.stopOnce.Do(func() { close(s.stopCl) }) }

// nodeType is the role hook scripts and the custom monitor are told.
func (s *shell) nodeType() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ToLower(displayRole(s.role))
}

// vipHeld reports whether the VIP is on this node's interface, for
// notifications and metrics; a node without a VIP, or one whose check
// fails, does not hold it.
func (s *shell) vipHeld() bool {
	if s.vip == nil {
		return false
	}
	held, err := s.vip.Held()
	return err == nil && held
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
