package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The load balancer's ports, as examples/haproxy/haproxy.cfg sets them, and
// the health port the harness gives every agent with ClusterOptions.HAProxy.
const (
	LBWritePort = 5000
	LBReadPort  = 5001
	HealthPort  = 8008
)

// HAProxyConfig is the example configuration the harness runs, relative to
// the module root: the tests prove the file users copy.
const HAProxyConfig = "examples/haproxy/haproxy.cfg"

// HAProxy is Debian's haproxy running in the cluster's "lb" host with the
// example configuration.
type HAProxy struct {
	Proc        *Proc
	Host        *Host
	Write, Read netip.AddrPort // the write (/primary) and read (/replica) ports
	Socket      string         // HAProxy's stats socket, added by the harness
}

// StartHAProxy starts haproxy in the "lb" host (ClusterOptions.HAProxy)
// with examples/haproxy/haproxy.cfg, its addresses filled in through the
// environment variables the file names, plus a stats socket of the
// harness's. It checks the files first with haproxy -c, and returns once
// every server has had its first health check: before that HAProxy 2.6
// counts every server as up and would send writes to standbys. The
// process is killed at cleanup.
func (c *Cluster) StartHAProxy(ctx context.Context) (*HAProxy, error) {
	if c.LB == nil {
		return nil, fmt.Errorf("starting HAProxy: the cluster has no lb host (ClusterOptions.HAProxy)")
	}
	if len(c.DB) != 3 {
		return nil, fmt.Errorf("starting HAProxy: %s names three database nodes, the cluster has %d", HAProxyConfig, len(c.DB))
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("starting HAProxy: %w (integration/setup-host.sh installs it)", err)
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(root, HAProxyConfig)
	env := []string{
		"EFM_LB_ADDR=" + c.LB.Addr.String(),
		fmt.Sprintf("EFM_HEALTH_PORT=%d", HealthPort),
		fmt.Sprintf("EFM_DB_PORT=%d", PGPort),
	}
	for i, p := range c.DB {
		env = append(env, fmt.Sprintf("EFM_NODE%d=%s", i+1, p.Host.Addr))
	}
	socket := filepath.Join(c.LB.Dir, "haproxy.sock")
	stats := filepath.Join(c.LB.Dir, "haproxy-stats.cfg")
	if err := os.WriteFile(stats, []byte("global\n    stats socket "+socket+" mode 600 level admin\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", stats, err)
	}
	if out, err := c.LB.Run(ctx, ProcOptions{Env: env}, bin, "-c", "-f", cfg, "-f", stats); err != nil {
		return nil, fmt.Errorf("haproxy -c -f %s: %w: %s", cfg, err, out)
	}
	// -db: stay in the foreground, so the harness owns the process.
	proc, err := c.LB.Start(c.tb, "haproxy", ProcOptions{Env: env}, bin, "-db", "-f", cfg, "-f", stats)
	if err != nil {
		return nil, err
	}
	lb := &HAProxy{Proc: proc, Host: c.LB, Socket: socket,
		Write: netip.AddrPortFrom(c.LB.Addr, LBWritePort), Read: netip.AddrPortFrom(c.LB.Addr, LBReadPort)}
	err = Eventually(ctx, 10*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, err := proc.Exited(); done {
			return false, fmt.Errorf("haproxy exited: %v; log:\n%s", err, proc.Log())
		}
		conn, err := c.Client.DialContext(ctx, "tcp", lb.Write.String())
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("HAProxy's write port %s never accepted a connection: %w", lb.Write, err)
	}
	var servers map[string]ServerState
	err = Eventually(ctx, 10*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		servers, err = lb.Servers(ctx)
		if err != nil {
			return false, err
		}
		for name, st := range servers {
			if st.Check == "" || strings.HasPrefix(st.Check, "INI") {
				return false, fmt.Errorf("%s not checked yet (%s)", name, st)
			}
		}
		return len(servers) > 0, fmt.Errorf("no servers in %s's stats", socket)
	})
	if err != nil {
		return nil, fmt.Errorf("HAProxy's first health checks: %w", err)
	}
	c.tb.Logf("harness: HAProxy on %s: writes %s (/primary), reads %s (/replica); servers %v", c.LB.Name, lb.Write, lb.Read, servers)
	return lb, nil
}

// ServerState is one server line of HAProxy's "show stat".
type ServerState struct {
	Status string // UP, DOWN, ...
	Check  string // check_status: L7OK, L7STS, L4CON, INI while unchecked, ...
}

func (s ServerState) String() string { return s.Status + "/" + s.Check }

// Servers returns the state of every server, keyed "proxy/server" (for
// example "postgres-write/node1"), from the stats socket.
func (lb *HAProxy) Servers(ctx context.Context) (map[string]ServerState, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", lb.Socket)
	if err != nil {
		return nil, fmt.Errorf("HAProxy stats socket: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("show stat\n")); err != nil {
		return nil, fmt.Errorf("HAProxy stats socket: %w", err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return nil, fmt.Errorf("HAProxy stats socket: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("HAProxy show stat: unexpected answer %q", out)
	}
	col := map[string]int{}
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		col[name] = i
	}
	m := map[string]ServerState{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) <= col["check_status"] || f[col["svname"]] == "FRONTEND" || f[col["svname"]] == "BACKEND" {
			continue
		}
		m[f[col["pxname"]]+"/"+f[col["svname"]]] = ServerState{Status: f[col["status"]], Check: f[col["check_status"]]}
	}
	return m, nil
}

// StartWriterVia starts a writer on the client host committing through
// target (HAProxy's write port, say) instead of the VIP.
func (c *Cluster) StartWriterVia(target netip.AddrPort, opts WriterOptions) *Writer {
	return StartWriter(c.tb, c.Client, target, opts)
}

// HealthGet asks h's agent for path on its health port, from the client
// host, and returns the status code and the body.
func (c *Cluster) HealthGet(ctx context.Context, h *Host, path string) (int, string, error) {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext:       c.Client.DialContext,
			DisableKeepAlives: true,
		},
	}
	url := "http://" + net.JoinHostPort(h.Addr.String(), fmt.Sprint(HealthPort)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// HostOf names the database host whose data directory is dir, or "".
func (c *Cluster) HostOf(dataDir string) string {
	for _, p := range c.DB {
		if p.DataDir == dataDir {
			return p.Host.Name
		}
	}
	return ""
}
