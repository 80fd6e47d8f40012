package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openefm/efm/internal/pg"
)

// AgentPort is the port every agent binds (bind.address) in its host.
const AgentPort = 7800

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// BuildEFM builds ./cmd/efm once per process into a scratch directory
// (swept when the process is gone) and returns the binary's path. EFM_BIN,
// when set, names a prebuilt binary instead.
func BuildEFM(ctx context.Context, tb TB) (string, error) {
	if b := os.Getenv("EFM_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("EFM_BIN=%s: %w", b, err)
		}
		return b, nil
	}
	buildOnce.Do(func() {
		start := time.Now()
		root, err := ModuleRoot(ctx)
		if err != nil {
			buildErr = err
			return
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-bin", namePrefix, os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = fmt.Errorf("creating %s: %w", dir, err)
			return
		}
		bin := filepath.Join(dir, "efm")
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "go", "build", "-o", bin, "./cmd/efm")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/efm in %s: %w: %s", root, err, strings.TrimSpace(string(out)))
			return
		}
		buildBin = bin
		tb.Logf("harness: built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	})
	return buildBin, buildErr
}

// ModuleRoot finds the directory of OpenEFM's go.mod: from this source
// file's location when the sources are there (tests), else from the working
// directory (a demo run from inside the repository).
func ModuleRoot(ctx context.Context) (string, error) {
	dirs := []string{}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, "go", "env", "GOMOD")
		cmd.Dir = d
		out, err := cmd.Output()
		cancel()
		gomod := strings.TrimSpace(string(out))
		if err == nil && gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	return "", fmt.Errorf("no go.mod found from %v: run from inside the OpenEFM repository or set EFM_BIN", dirs)
}

// EFMConfig is one host's configuration directory for a cluster:
// <Dir>/<Cluster>.properties and <Dir>/<Cluster>.nodes.
type EFMConfig struct {
	Dir     string
	Cluster string
	Props   map[string]string
	Nodes   []string // address:port of the agents allowed to join
}

// PropsPath is the properties file's path.
func (c EFMConfig) PropsPath() string { return filepath.Join(c.Dir, c.Cluster+".properties") }

// NodesPath is the nodes file's path.
func (c EFMConfig) NodesPath() string { return filepath.Join(c.Dir, c.Cluster+".nodes") }

// NotificationsPath is where the script.notification EFMProps configures
// appends one line per notification.
func (c EFMConfig) NotificationsPath() string { return filepath.Join(c.Dir, "notifications.log") }

// Write writes both files (sorted key=value lines; one address:port per
// line), creating Dir.
func (c EFMConfig) Write() error {
	if c.Cluster == "" || strings.ContainsAny(c.Cluster, "/ ") {
		return fmt.Errorf("cluster name %q: want a non-empty word", c.Cluster)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.Dir, err)
	}
	keys := make([]string, 0, len(c.Props))
	for k := range c.Props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by the OpenEFM integration harness\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, c.Props[k])
	}
	if err := os.WriteFile(c.PropsPath(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", c.PropsPath(), err)
	}
	nodes := "# agents allowed to join: address:port\n" + strings.Join(c.Nodes, "\n") + "\n"
	if err := os.WriteFile(c.NodesPath(), []byte(nodes), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", c.NodesPath(), err)
	}
	return nil
}

// AgentAddr is the bind.address EFMProps gives h's agent.
func AgentAddr(h *Host) netip.AddrPort { return netip.AddrPortFrom(h.Addr, AgentPort) }

// EFMProps returns properties for h's agent in the EFM dialect: the
// harness's paths (all under <h.Dir>/efm), the postgres role (its password
// token is cluster-specific: NewEFMConfig adds db.password.encrypted),
// application.name = the host's name, the VIP on
// HostIface, the switch's address as ping.server.ip, a notification script
// writing to NotificationsPath, and a fast profile (1 s local checks, 5 s
// node timeout). pg nil makes a witness. vip invalid leaves the VIP unset.
// Change the map before writing it to tune a test.
func EFMProps(h *Host, pg *PG, vip netip.Addr) map[string]string {
	dir := filepath.Join(h.Dir, "efm")
	m := map[string]string{
		"db.user":     "postgres",
		"db.port":     fmt.Sprint(PGPort),
		"db.database": "postgres",
		// The password is db.password.encrypted, added by NewEFMConfig.
		"bind.address":        AgentAddr(h).String(),
		"is.witness":          "false",
		"auto.allow.hosts":    "true",
		"ping.server.ip":      h.net.Gateway().String(),
		"ping.server.command": "/bin/ping -q -n -c1 -w1",
		"lock.dir":            filepath.Join(dir, "lock"),
		"pid.dir":             filepath.Join(dir, "run"),
		"log.dir":             filepath.Join(dir, "log"),
		"state.dir":           filepath.Join(dir, "state"),
		"script.notification": filepath.Join(dir, "notify.sh"),
		"local.period":        "1",
		"local.timeout":       "3",
		"local.timeout.final": "1",
		"remote.timeout":      "2",
		"node.timeout":        "5",
	}
	if vip.IsValid() {
		m["virtual.ip"] = vip.String()
		m["virtual.ip.interface"] = HostIface
		m["virtual.ip.prefix"] = fmt.Sprint(vip.BitLen())
	}
	if pg == nil {
		m["is.witness"] = "true"
	} else {
		m["db.bin"] = pg.Bin
		m["db.data.dir"] = pg.DataDir
		m["db.service.owner"] = "postgres"
		// What a switched-over primary streams as, and what a re-pointed
		// standby keeps (synchronous_standby_names names the hosts).
		m["application.name"] = h.Name
	}
	return m
}

// NewEFMConfig returns h's configuration for cluster with EFMProps,
// db.password.encrypted for PGPassword (what `efm encrypt <cluster>`
// prints) and every host in agents as a node, and writes it, with the
// notification script, under <h.Dir>/efm.
func NewEFMConfig(cluster string, h *Host, db *PG, vip netip.Addr, agents []*Host) (EFMConfig, error) {
	c := EFMConfig{Dir: filepath.Join(h.Dir, "efm"), Cluster: cluster, Props: EFMProps(h, db, vip)}
	token, err := pg.EncryptPassword(cluster, PGPassword)
	if err != nil {
		return c, fmt.Errorf("db.password.encrypted for %s: %w", h.Name, err)
	}
	c.Props["db.password.encrypted"] = token
	for _, a := range agents {
		c.Nodes = append(c.Nodes, AgentAddr(a).String())
	}
	if err := c.Write(); err != nil {
		return c, err
	}
	return c, c.writeNotifyScript()
}

// writeNotifyScript writes the script.notification EFMProps names. EFM
// calls it with the subject and the body.
func (c EFMConfig) writeNotifyScript() error {
	for _, d := range []string{"lock", "run", "log"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	script := "#!/bin/sh\n# appends one line per notification: time | subject | body\n" +
		"printf '%s | %s | %s\\n' \"$(date +%H:%M:%S.%N)\" \"$1\" \"$2\" >> '" + c.NotificationsPath() + "'\n"
	p := filepath.Join(c.Dir, "notify.sh")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// Notifications returns the lines the notification script has written.
func (c EFMConfig) Notifications() []string {
	b, err := os.ReadFile(c.NotificationsPath())
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// StartAgent runs `efm agent <cluster> -config-dir <dir>` as root inside h,
// logging to <h.Dir>/efm-agent.log; it is SIGKILLed at cleanup.
func StartAgent(tb TB, h *Host, bin string, cfg EFMConfig) (*Proc, error) {
	if bin == "" {
		return nil, errors.New("starting an agent: no efm binary (BuildEFM)")
	}
	bin, err := absBinary(bin)
	if err != nil {
		return nil, fmt.Errorf("starting an agent on %s: %w", h.Name, err)
	}
	return h.Start(tb, "efm-agent", ProcOptions{Env: []string{"EFM_CONFIG_DIR=" + cfg.Dir}},
		bin, "agent", cfg.Cluster, "-config-dir", cfg.Dir)
}

// RunEFM runs the efm CLI inside h with EFM_CONFIG_DIR set to cfg.Dir, e.g.
// RunEFM(ctx, h, bin, cfg, "cluster-status", cfg.Cluster).
func RunEFM(ctx context.Context, h *Host, bin string, cfg EFMConfig, args ...string) (string, error) {
	bin, err := absBinary(bin)
	if err != nil {
		return "", fmt.Errorf("running efm on %s: %w", h.Name, err)
	}
	return h.Run(ctx, ProcOptions{Env: []string{"EFM_CONFIG_DIR=" + cfg.Dir}}, append([]string{bin}, args...)...)
}

// absBinary makes a binary path absolute against this process's working
// directory. Processes in a host start in the host's own directory, where a
// relative path such as "bin/efm" (what `make demo` passes) names nothing.
func absBinary(bin string) (string, error) {
	if bin == "" || filepath.IsAbs(bin) || !strings.ContainsRune(bin, os.PathSeparator) {
		// A bare name is looked up in PATH, as exec does.
		return bin, nil
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", fmt.Errorf("efm binary %s: %w", bin, err)
	}
	return abs, nil
}
