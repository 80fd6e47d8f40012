package harness

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// ClusterOptions shapes a test cluster; zero values take the defaults.
type ClusterOptions struct {
	Name      string // cluster name; "itest"
	DBHosts   int    // database hosts n1..nN, n1 the primary; 3
	NoWitness bool   // leave out the witness host
	PG        PGOptions
	// Props override keys of every agent's properties (EFMProps), e.g.
	// {"node.timeout": "3"}; a value "" deletes the key.
	Props map[string]string
	// Sync makes replication synchronous once the standbys stream:
	// synchronous_standby_names = 'ANY 1 (n1, ..., nN)' on every server
	// (ALTER SYSTEM on the primary, so clones and rewinds carry it too).
	Sync bool
	// AssignVIP puts the VIP on the primary's interface before any agent
	// runs (EFM's primary agent would add it at start otherwise).
	AssignVIP bool
	// HAProxy adds a host "lb" for StartHAProxy and gives every agent
	// primary.health.check.port = HealthPort.
	HAProxy bool
	// Pgpool adds a host "pgpool" for StartPgpool.
	Pgpool bool
}

// Cluster is a ready-made failover test bed: database hosts n1..nN (n1
// primary, the others streaming standbys), a witness, and a "client" host
// that belongs to no cluster and runs the writer, all on one Network, with
// every agent's configuration written. Agents are started by StartAgents.
type Cluster struct {
	Net     *Network
	Name    string
	VIP     netip.Addr
	DB      []*PG // DB[0] is the initial primary
	Witness *Host // nil with NoWitness
	Client  *Host
	LB      *Host                // the load balancer's host; nil without ClusterOptions.HAProxy
	Configs map[string]EFMConfig // by host name
	Bin     string               // the efm binary, once StartAgents has built it

	// PoolHost is Pgpool-II's host; nil without ClusterOptions.Pgpool.
	PoolHost *Host

	tb     TB
	mu     sync.Mutex
	agents map[string]*Proc
}

// NewCluster builds the network, the primary and its standbys (waiting
// until every standby streams) and writes each agent's configuration.
func NewCluster(ctx context.Context, tb TB, opts ClusterOptions) (*Cluster, error) {
	start := time.Now()
	if opts.Name == "" {
		opts.Name = "itest"
	}
	if opts.DBHosts == 0 {
		opts.DBHosts = 3
	}
	names := []string{}
	for i := 1; i <= opts.DBHosts; i++ {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	if !opts.NoWitness {
		names = append(names, "witness")
	}
	names = append(names, "client")
	if opts.HAProxy {
		names = append(names, "lb")
	}
	if opts.Pgpool {
		names = append(names, "pgpool")
	}
	nw, err := NewNetwork(ctx, tb, names...)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Net: nw, Name: opts.Name, VIP: nw.Spare(0), Client: nw.Host("client"), Witness: nw.Host("witness"),
		LB: nw.Host("lb"), PoolHost: nw.Host("pgpool"), Configs: map[string]EFMConfig{}, tb: tb, agents: map[string]*Proc{}}
	primary, err := InitPrimary(ctx, tb, nw.Host("n1"), opts.PG)
	if err != nil {
		return nil, err
	}
	c.DB = append(c.DB, primary)
	for i := 2; i <= opts.DBHosts; i++ {
		s, err := CloneStandby(ctx, tb, nw.Host(fmt.Sprintf("n%d", i)), primary, opts.PG)
		if err != nil {
			return nil, err
		}
		c.DB = append(c.DB, s)
	}
	if err := c.WaitStreaming(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	if opts.Sync && len(c.DB) > 1 {
		if err := c.setSync(ctx); err != nil {
			return nil, err
		}
	}
	if opts.AssignVIP {
		if err := primary.Host.AddAddr(ctx, c.VIP, 32); err != nil {
			return nil, err
		}
	}
	var agentHosts []*Host
	for _, p := range c.DB {
		agentHosts = append(agentHosts, p.Host)
	}
	if c.Witness != nil {
		agentHosts = append(agentHosts, c.Witness)
	}
	for _, h := range agentHosts {
		cfg, err := NewEFMConfig(c.Name, h, c.PG(h.Name), c.VIP, agentHosts)
		if err != nil {
			return nil, err
		}
		if opts.HAProxy {
			cfg.Props["primary.health.check.port"] = fmt.Sprint(HealthPort)
		}
		for k, v := range opts.Props {
			if v == "" {
				delete(cfg.Props, k)
			} else {
				cfg.Props[k] = v
			}
		}
		if err := cfg.Write(); err != nil {
			return nil, err
		}
		c.Configs[h.Name] = cfg
	}
	tb.Logf("harness: cluster %s ready in %v: primary n1, %d standbys, VIP %s", c.Name, time.Since(start).Round(time.Millisecond), len(c.DB)-1, c.VIP)
	return c, nil
}

// setSync turns on quorum-synchronous replication on the primary and on
// every standby (so a promoted standby keeps it) and waits until the
// primary reports its standbys as quorum members.
func (c *Cluster) setSync(ctx context.Context) error {
	// Every database host is named, the primary too: after a switchover
	// the old primary is a standby, and a list of the first standbys only
	// would leave a 2-database cluster with no synchronous standby at all
	// (commits wait forever; the chaos runner's seed 1014 found it).
	var names []string
	for _, p := range c.DB {
		names = append(names, p.Host.Name)
	}
	set := fmt.Sprintf("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (%s)'", strings.Join(names, ", "))
	for _, p := range c.DB {
		if err := p.Exec(ctx, set); err != nil {
			return err
		}
		if err := p.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return err
		}
	}
	err := Eventually(ctx, 10*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		n, err := c.DB[0].QueryString(ctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'")
		return n == fmt.Sprint(len(names)-1), fmt.Errorf("%s quorum standbys, want %d (%v)", n, len(names)-1, err)
	})
	if err != nil {
		return fmt.Errorf("turning on synchronous replication: %w", err)
	}
	return nil
}

// PG returns the server on the named host, or nil (witness, client).
func (c *Cluster) PG(host string) *PG {
	for _, p := range c.DB {
		if p.Host.Name == host {
			return p
		}
	}
	return nil
}

// AgentHosts returns the hosts that run an agent: the database hosts, then
// the witness.
func (c *Cluster) AgentHosts() []*Host {
	var hs []*Host
	for _, p := range c.DB {
		hs = append(hs, p.Host)
	}
	if c.Witness != nil {
		hs = append(hs, c.Witness)
	}
	return hs
}

// WaitStreaming waits until every standby streams from DB[0].
func (c *Cluster) WaitStreaming(ctx context.Context, timeout time.Duration) error {
	want := len(c.DB) - 1
	err := Eventually(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		names, err := c.DB[0].Streaming(ctx)
		if err != nil {
			return false, err
		}
		if len(names) == want {
			return true, nil
		}
		return false, fmt.Errorf("streaming from %s: %v, want %d standbys", c.DB[0].Host.Name, names, want)
	})
	if err != nil {
		return fmt.Errorf("waiting for replication: %w", err)
	}
	return nil
}

// StartAgents builds efm (once per process) and starts an agent on every
// agent host, database hosts first.
func (c *Cluster) StartAgents(ctx context.Context) error {
	for _, h := range c.AgentHosts() {
		if _, err := c.StartAgent(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// StartAgent starts (or restarts, after a kill) the agent of one host.
func (c *Cluster) StartAgent(ctx context.Context, h *Host) (*Proc, error) {
	if c.Bin == "" {
		bin, err := BuildEFM(ctx, c.tb)
		if err != nil {
			return nil, err
		}
		c.Bin = bin
	}
	p, err := StartAgent(c.tb, h, c.Bin, c.Configs[h.Name])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.agents[h.Name] = p
	c.mu.Unlock()
	return p, nil
}

// Agent returns the latest agent process started on the named host.
func (c *Cluster) Agent(host string) *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agents[host]
}

// EFM runs the efm CLI on h with h's configuration, e.g.
// c.EFM(ctx, h, "cluster-status", c.Name).
func (c *Cluster) EFM(ctx context.Context, h *Host, args ...string) (string, error) {
	if c.Bin == "" {
		bin, err := BuildEFM(ctx, c.tb)
		if err != nil {
			return "", err
		}
		c.Bin = bin
	}
	return RunEFM(ctx, h, c.Bin, c.Configs[h.Name], args...)
}

// WaitHealthy polls `efm cluster-status` on the witness (the last database
// host with NoWitness) until it exits 0 (every agent up, a primary,
// standbys up and in sync) and returns its last output; on timeout the
// error carries that output.
func (c *Cluster) WaitHealthy(ctx context.Context, timeout time.Duration) (string, error) {
	var out string
	on := c.Witness
	if on == nil {
		on = c.DB[len(c.DB)-1].Host
	}
	err := Eventually(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		out, err = c.EFM(ctx, on, "cluster-status", c.Name)
		return err == nil, err
	})
	if err != nil {
		return out, fmt.Errorf("efm cluster-status never exited 0: %w\n%s", err, out)
	}
	return out, nil
}

// StartWriter starts the writer on the client host, committing through the
// VIP.
func (c *Cluster) StartWriter(opts WriterOptions) *Writer {
	return StartWriter(c.tb, c.Client, netip.AddrPortFrom(c.VIP, PGPort), opts)
}

// StartProbe starts the split-brain probe on every server.
func (c *Cluster) StartProbe() *Probe { return StartProbe(c.tb, 0, c.DB...) }

// Writable returns the hosts whose server commits a write right now.
func (c *Cluster) Writable(ctx context.Context) []string {
	var out []string
	for _, p := range c.DB {
		if ok, _ := p.Writable(ctx); ok {
			out = append(out, p.Host.Name)
		}
	}
	sort.Strings(out)
	return out
}

// VIPHolders returns the hosts that have the VIP on their interface.
func (c *Cluster) VIPHolders(ctx context.Context) ([]string, error) {
	var out []string
	for _, h := range c.AgentHosts() {
		ok, err := h.HasAddr(ctx, c.VIP)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h.Name)
		}
	}
	return out, nil
}
