package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostPort is an address and a port: bind.address, metrics.address, and
// the entries of a nodes file.
type HostPort struct {
	Host string // IP literal (no brackets) or, in a nodes file, a host name
	Port int
}

// String gives ip:port, or [v6]:port for an IPv6 host.
func (h HostPort) String() string {
	if h.IsZero() {
		return ""
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}

// MarshalText gives String, so a HostPort prints as ip:port in JSON.
func (h HostPort) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads what ParseHostPort accepts; empty text is the zero
// HostPort.
func (h *HostPort) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*h = HostPort{}
		return nil
	}
	hp, err := ParseHostPort(string(b))
	if err != nil {
		return err
	}
	*h = hp
	return nil
}

// ParseHostPort reads address:port as a nodes file holds it: an IP literal
// (IPv6 in brackets) or a DNS host name, and a port 1-65535. An IP comes
// back in canonical form, so equal addresses compare equal.
func ParseHostPort(s string) (HostPort, error) { return parseHostPort(s) }

// IsZero reports an unset address.
func (h HostPort) IsZero() bool { return h.Host == "" && h.Port == 0 }

// Config is one cluster's properties, typed, defaults applied. Field names
// follow the key names (db.user -> DBUser); the comment names the key.
type Config struct {
	Cluster string // base name of the properties file
	Dir     string // directory of the properties file
	Path    string // the properties file

	// 1.1 database connection and identity
	DBUser                    string            // db.user
	DBPasswordEncrypted       string            // db.password.encrypted
	DBPort                    int               // db.port
	DBDatabase                string            // db.database
	ScriptDBPassword          string            // script.db.password
	ScriptDBPasswordRetry     time.Duration     // script.db.password.retry
	ScriptDBPasswordEncrypted bool              // script.db.password.encrypted
	DBServiceOwner            string            // db.service.owner
	DBServiceName             string            // db.service.name
	DBBin                     string            // db.bin
	DBDataDir                 string            // db.data.dir
	DBConfigDir               string            // db.config.dir; DBDataDir when unset
	JDBCSSLMode               string            // jdbc.sslmode: disable, require, verify-ca, verify-full
	JDBCProperties            map[string]string // jdbc.properties, name=value pairs
	DBReuseConnectionCount    int               // db.reuse.connection.count

	// 1.2 notifications
	UserEmail              []string // user.email
	FromEmail              string   // from.email
	NotificationLevel      string   // notification.level: INFO, WARNING, SEVERE
	NotificationTextPrefix string   // notification.text.prefix
	ScriptNotification     string   // script.notification

	// 1.3 networking and membership
	BindAddress            HostPort // bind.address
	ExternalAddress        string   // external.address
	AdminPort              int      // admin.port (no effect)
	PrimaryHealthCheckPort int      // primary.health.check.port; 0 = off
	IsWitness              bool     // is.witness
	EncryptAgentMessages   bool     // encrypt.agent.messages
	AutoAllowHosts         bool     // auto.allow.hosts
	StableNodesFile        bool     // stable.nodes.file
	EnableStopCluster      bool     // enable.stop.cluster
	PingServerIP           string   // ping.server.ip; "" = no orphan check
	PingServerCommand      string   // ping.server.command

	// 1.4 failure-detection timers
	LocalPeriod               time.Duration // local.period
	LocalTimeout              time.Duration // local.timeout
	LocalTimeoutFinal         time.Duration // local.timeout.final
	RemoteTimeout             time.Duration // remote.timeout
	NodeTimeout               time.Duration // node.timeout
	RecoveryCheckPeriod       time.Duration // recovery.check.period
	RestartConnectionTimeout  time.Duration // restart.connection.timeout
	CheckVIPTimeout           time.Duration // check.vip.timeout
	CheckNumSyncPeriod        time.Duration // check.num.sync.period
	StandbyRestartDelay       time.Duration // standby.restart.delay
	AutoResumeStartupPeriod   time.Duration // auto.resume.startup.period; 0 = off
	AutoResumeFailurePeriod   time.Duration // auto.resume.failure.period; 0 = off
	UpdatePhysicalSlotsPeriod time.Duration // update.physical.slots.period; 0 = off

	// 1.5 failure handling
	AutoFailover             bool // auto.failover
	StopIsolatedPrimary      bool // stop.isolated.primary
	StopFailedPrimary        bool // stop.failed.primary
	PrimaryShutdownAsFailure bool // primary.shutdown.as.failure
	MinimumStandbys          int  // minimum.standbys
	DetachOnAgentFailure     bool // detach.on.agent.failure

	// 1.6 promotion and standby selection
	Promotable          bool     // promotable
	UseReplayTiebreaker bool     // use.replay.tiebreaker
	PriorityStandbys    []string // priority.standbys
	ApplicationName     string   // application.name
	RestoreCommand      string   // restore.command
	BackupWAL           bool     // backup.wal

	// 1.7 reconfiguration and rebuild
	AutoReconfigure bool // auto.reconfigure
	AutoRewind      bool // auto.rewind
	AutoBasebackup  bool // auto.basebackup

	// 1.8 synchronous replication and slots
	ReconfigureNumSync     bool // reconfigure.num.sync
	ReconfigureSyncPrimary bool // reconfigure.sync.primary
	ReconfigureNumSyncMax  int  // reconfigure.num.sync.max; 0 = unset

	// 1.9 virtual IP, load balancers, Pgpool
	VirtualIP                 string        // virtual.ip; "" = no VIP handling
	VirtualIPInterface        string        // virtual.ip.interface
	VirtualIPPrefix           int           // virtual.ip.prefix; 0 = unset (host prefix)
	VirtualIPSingle           bool          // virtual.ip.single
	CheckVIPBeforePromotion   bool          // check.vip.before.promotion
	ReleaseVIPBackground      bool          // release.vip.background
	ReleaseVIPPreWait         time.Duration // release.vip.pre.wait
	ReleaseVIPPostWait        time.Duration // release.vip.post.wait
	ScriptLoadBalancerAttach  string        // script.load.balancer.attach
	ScriptLoadBalancerDetach  string        // script.load.balancer.detach
	PgpoolEnable              bool          // pgpool.enable
	PCPUser                   string        // pcp.user
	PCPHost                   string        // pcp.host
	PCPPort                   int           // pcp.port; 0 = unset
	PCPPassFile               string        // pcp.pass.file
	PgpoolBin                 string        // pgpool.bin
	ScriptFence               string        // script.fence
	ScriptPostPromotion       string        // script.post.promotion
	ScriptRemotePrePromotion  string        // script.remote.pre.promotion
	ScriptRemotePostPromotion string        // script.remote.post.promotion
	ScriptResumed             string        // script.resumed
	ScriptDBFailure           string        // script.db.failure
	ScriptPrimaryIsolated     string        // script.primary.isolated
	ScriptCustomMonitor       string        // script.custom.monitor
	CustomMonitorInterval     time.Duration // custom.monitor.interval
	CustomMonitorTimeout      time.Duration // custom.monitor.timeout
	CustomMonitorSafeMode     bool          // custom.monitor.safe.mode

	// 1.11 privileges, paths, logging
	SudoCommand     string     // sudo.command (no effect)
	SudoUserCommand string     // sudo.user.command
	LockDir         string     // lock.dir
	PidDir          string     // pid.dir
	LogDir          string     // log.dir
	FileLogEnabled  bool       // file.log.enabled
	SyslogEnabled   bool       // syslog.enabled
	SyslogHost      string     // syslog.host
	SyslogPort      int        // syslog.port
	SyslogProtocol  string     // syslog.protocol: UDP or TCP
	SyslogFacility  string     // syslog.facility: LOCAL0..LOCAL7
	EFMLogLevel     slog.Level // efm.loglevel; TRACE is LevelTrace
	JGroupsLogLevel string     // jgroups.loglevel (no effect)
	JDBCLogLevel    string     // jdbc.loglevel (no effect)
	JVMOptions      string     // jvm.options (no effect)

	// OpenEFM extensions
	AgentKeyFile   string   // agent.key.file; <Dir>/<Cluster>.key when unset
	MetricsAddress HostPort // metrics.address; zero = no metrics listener
	DBHost         string   // db.host; BindAddress.Host when unset
	StateDir       string   // state.dir: where the agent persists its epoch and vote

	set map[string]bool // keys given a non-empty value in the file
	bad map[string]bool // keys whose value was refused (not reported missing too)
}

// LevelTrace is efm.loglevel=TRACE: below slog's Debug.
const LevelTrace = slog.LevelDebug - 4

// IsSet reports whether the file gave key a non-empty value (as opposed to
// the default applying).
func (c *Config) IsSet(key string) bool { return c.set[key] }

// NodesPath is <dir>/<cluster>.nodes.
func (c *Config) NodesPath() string { return filepath.Join(c.Dir, c.Cluster+".nodes") }

// LockPath is <lock.dir>/<cluster>.lock.
func (c *Config) LockPath() string { return filepath.Join(c.LockDir, c.Cluster+".lock") }

// PidPath is <pid.dir>/<cluster>.pid.
func (c *Config) PidPath() string { return filepath.Join(c.PidDir, c.Cluster+".pid") }

// SocketPath is <pid.dir>/<cluster>.sock, the admin socket.
func (c *Config) SocketPath() string { return filepath.Join(c.PidDir, c.Cluster+".sock") }

// StatePath is <state.dir>/<cluster>.state, the agent's persisted vote.
func (c *Config) StatePath() string { return filepath.Join(c.StateDir, c.Cluster+".state") }

// LogPath is <log.dir>/<cluster>.log.
func (c *Config) LogPath() string { return filepath.Join(c.LogDir, c.Cluster+".log") }

// Load reads <dir>/<cluster>.properties.
func Load(dir, cluster string) (*Config, []string, error) {
	if err := checkClusterName(cluster); err != nil {
		return nil, nil, err
	}
	return LoadFile(filepath.Join(dir, cluster+".properties"))
}

// LoadFile reads a properties file; the cluster is its base name without
// ".properties". Problems with the contents come back as Errors.
func LoadFile(path string) (*Config, []string, error) {
	base := filepath.Base(path)
	cluster, ok := strings.CutSuffix(base, ".properties")
	if !ok {
		return nil, nil, fmt.Errorf("%s: a cluster's properties file must be named <cluster>.properties", path)
	}
	if err := checkClusterName(cluster); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading cluster properties: %w", err)
	}
	return parse(path, cluster, data)
}

// Parse reads properties from data as if from <cluster>.properties in the
// current directory (errors name that file).
func Parse(cluster string, data []byte) (*Config, []string, error) {
	if err := checkClusterName(cluster); err != nil {
		return nil, nil, err
	}
	return parse(cluster+".properties", cluster, data)
}

// checkClusterName refuses names that cannot be a file's base name or that
// would make the derived paths (lock, pid, socket) escape their directory.
func checkClusterName(cluster string) error {
	switch {
	case cluster == "":
		return fmt.Errorf("cluster name is empty")
	case cluster == "." || cluster == "..", strings.ContainsAny(cluster, "/\x00"):
		return fmt.Errorf("cluster name %q: must be a plain file name (no '/')", cluster)
	}
	return nil
}
