package harness

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/openefm/efm/internal/pgpool"
)

// Pgpool-II's ports (as examples/pgpool/pgpool.conf sets them) and the PCP
// credentials the harness gives it. The PCP password reaches the PCP
// programs through a pass file, as pcp.pass.file hands it to an agent.
const (
	PgpoolPort  = 9999
	PCPPort     = 9898
	PCPUser     = "efmpcp"
	PCPPassword = "efmi-pcp-secret"
)

// PgpoolConfig is the example configuration the harness runs, relative to
// the module root, before the lines naming the test cluster.
const PgpoolConfig = "examples/pgpool/pgpool.conf"

// Pgpool is Debian's pgpool2 running as the postgres OS user in the
// cluster's "pgpool" host (ClusterOptions.Pgpool), with the cluster's
// databases as its backends 0..N-1 in c.DB's order.
type Pgpool struct {
	Proc     *Proc
	Host     *Host
	Addr     netip.AddrPort // where clients connect
	PCP      netip.AddrPort // Pgpool's PCP port
	PassFile string         // a PCP pass file (mode 0600) for PCPUser
	Dir      string         // pgpool.conf, pcp.conf, pool_hba.conf, pool_passwd, Pgpool's status file
}

// StartPgpool starts pgpool in the "pgpool" host with
// examples/pgpool/pgpool.conf plus the cluster's addresses, paths and
// backends, scram-sha-256 client authentication (pool_hba.conf), the
// postgres password in pool_passwd and PCPUser in pcp.conf. It returns once
// pcp_node_info shows every backend up and DB[0] as Pgpool's primary. The
// process is killed at cleanup.
func (c *Cluster) StartPgpool(ctx context.Context) (*Pgpool, error) {
	h := c.PoolHost
	if h == nil {
		return nil, fmt.Errorf("starting Pgpool: the cluster has no pgpool host (ClusterOptions.Pgpool)")
	}
	bin, err := exec.LookPath("pgpool")
	if err != nil {
		return nil, fmt.Errorf("starting Pgpool: %w (integration/setup-host.sh installs pgpool2)", err)
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	example, err := os.ReadFile(filepath.Join(root, PgpoolConfig))
	if err != nil {
		return nil, fmt.Errorf("starting Pgpool: %w", err)
	}
	pp := &Pgpool{Host: h, Dir: filepath.Join(h.Dir, "pgpool"),
		Addr: netip.AddrPortFrom(h.Addr, PgpoolPort), PCP: netip.AddrPortFrom(h.Addr, PCPPort)}
	if err := os.MkdirAll(pp.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", pp.Dir, err)
	}
	if err := chownPostgres(pp.Dir); err != nil {
		return nil, err
	}
	conf := string(example) + pp.clusterConf(c)
	sum := md5.Sum([]byte(PCPPassword))
	files := []struct{ name, text string }{
		{"pgpool.conf", conf},
		{"pcp.conf", PCPUser + ":" + hex.EncodeToString(sum[:]) + "\n"},
		{"pool_hba.conf", "local all all scram-sha-256\nhost all all 10.231.0.0/16 scram-sha-256\n"},
		{"pool_passwd", "postgres:TEXT" + PGPassword + "\n"},
	}
	for _, f := range files {
		if err := writeOwnerFile(filepath.Join(pp.Dir, f.name), f.text); err != nil {
			return nil, err
		}
	}
	// The PCP client runs as root here (as an agent started by systemd
	// would run as its own user): root's file, 0600.
	pp.PassFile = filepath.Join(h.Dir, "pcppass")
	if err := os.WriteFile(pp.PassFile, []byte(fmt.Sprintf("%s:%d:%s:%s\n", h.Addr, PCPPort, PCPUser, PCPPassword)), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", pp.PassFile, err)
	}
	// -n: stay in the foreground, so the harness owns the process; -D:
	// forget backend states an earlier run left in pgpool_status.
	proc, err := h.Start(c.tb, "pgpool", ProcOptions{AsPostgres: true, Dir: pp.Dir}, bin, "-n", "-D",
		"-f", filepath.Join(pp.Dir, "pgpool.conf"), "-F", filepath.Join(pp.Dir, "pcp.conf"), "-a", filepath.Join(pp.Dir, "pool_hba.conf"))
	if err != nil {
		return nil, err
	}
	pp.Proc = proc
	pcp, err := pp.Client(h)
	if err != nil {
		return nil, err
	}
	var nodes []pgpool.Node
	err = Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, err := proc.Exited(); done {
			return false, fmt.Errorf("pgpool exited: %v; log:\n%s", err, proc.Log())
		}
		nodes, err = pcp.Nodes(ctx)
		if err != nil {
			return false, err
		}
		if len(nodes) != len(c.DB) {
			return false, fmt.Errorf("Pgpool has %d backends, want %d: %v", len(nodes), len(c.DB), nodes)
		}
		for _, n := range nodes {
			if !n.Status.Up() || (n.ID == 0) != (n.Role == "primary") {
				return false, fmt.Errorf("backends %v, want all up and backend 0 the primary", nodes)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("Pgpool never saw its backends: %w\npgpool log:\n%s", err, proc.Log())
	}
	c.tb.Logf("harness: Pgpool on %s: clients %s, PCP %s; backends %v", h.Name, pp.Addr, pp.PCP, nodes)
	return pp, nil
}

// clusterConf is what the example leaves to the user: listen addresses,
// paths and one backend per database.
func (pp *Pgpool) clusterConf(c *Cluster) string {
	lines := []string{
		"",
		"# the test cluster (integration harness)",
		fmt.Sprintf("listen_addresses = '%s'", pp.Host.Addr),
		fmt.Sprintf("pcp_listen_addresses = '%s'", pp.Host.Addr),
		fmt.Sprintf("unix_socket_directories = '%s'", pp.Dir),
		fmt.Sprintf("pcp_socket_dir = '%s'", pp.Dir),
		fmt.Sprintf("wd_ipc_socket_dir = '%s'", pp.Dir),
		fmt.Sprintf("pid_file_name = '%s'", filepath.Join(pp.Dir, "pgpool.pid")),
		fmt.Sprintf("logdir = '%s'", pp.Dir),
		"log_min_messages = info",
		"num_init_children = 8",
		"max_pool = 1",
	}
	for i, p := range c.DB {
		lines = append(lines,
			fmt.Sprintf("backend_hostname%d = '%s'", i, p.Host.Addr),
			fmt.Sprintf("backend_port%d = %d", i, PGPort),
			fmt.Sprintf("backend_weight%d = 1", i),
			fmt.Sprintf("backend_application_name%d = '%s'", i, p.Host.Name))
	}
	return strings.Join(lines, "\n") + "\n"
}

// Client returns a PCP client (OpenEFM's own, internal/pgpool) whose
// programs run in from's namespace, as an agent on that host runs them.
func (pp *Pgpool) Client(from *Host) (*pgpool.Client, error) {
	return pgpool.New(pgpool.Config{
		Host: pp.PCP.Addr().String(), Port: int(pp.PCP.Port()), User: PCPUser, PassFile: pp.PassFile,
		Command: func(ctx context.Context, name string, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", from.NS, name}, args...)...)
		},
	})
}
