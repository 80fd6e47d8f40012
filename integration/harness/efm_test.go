package harness

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/openefm/efm/internal/config"
	dbpg "github.com/openefm/efm/internal/pg"
)

// fakeNetwork builds Host values without namespaces, for config tests.
func fakeNetwork(t *testing.T, names ...string) (*Network, []*Host) {
	t.Helper()
	n := &Network{Name: "efmi-test", Subnet: netip.MustParsePrefix("10.231.7.0/24"), Dir: t.TempDir()}
	var hs []*Host
	for i, name := range names {
		h := &Host{Name: name, NS: n.Name + "-" + name, Addr: n.addr(11 + i), Dir: filepath.Join(n.Dir, name), net: n}
		n.hosts = append(n.hosts, h)
		hs = append(hs, h)
	}
	return n, hs
}

// The properties the harness writes must be accepted by the agent's own
// configuration loader, for database nodes and the witness alike.
func TestEFMConfigLoadsWithTheAgentsParser(t *testing.T) {
	nw, hs := fakeNetwork(t, "n1", "n2", "witness")
	vip := nw.Spare(0)
	for _, h := range hs {
		var pg *PG
		if h.Name != "witness" {
			pg = &PG{Host: h, Bin: DefaultPGBin, DataDir: filepath.Join(h.Dir, "pgdata")}
		}
		t.Run(h.Name, func(t *testing.T) {
			cfg, err := NewEFMConfig("itest", h, pg, vip, hs)
			if err != nil {
				t.Fatal(err)
			}
			c, warnings, err := config.Load(cfg.Dir, cfg.Cluster)
			if err != nil {
				t.Fatalf("agent refuses %s: %v", cfg.PropsPath(), err)
			}
			for _, w := range warnings {
				t.Logf("warning: %s", w)
			}
			if c.IsWitness != (pg == nil) {
				t.Errorf("is.witness = %v for %s", c.IsWitness, h.Name)
			}
			// The agents authenticate with a password, as the servers ask.
			if pw, err := dbpg.DecryptPassword(cfg.Cluster, c.DBPasswordEncrypted); err != nil || pw != PGPassword {
				t.Errorf("db.password.encrypted decodes to %q (%v), want PGPassword", pw, err)
			}
			if c.ScriptDBPassword != "" {
				t.Errorf("script.db.password = %q alongside db.password.encrypted", c.ScriptDBPassword)
			}
			nodes, err := config.ReadNodes(cfg.NodesPath())
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != len(hs) {
				t.Errorf("%s lists %d nodes, want %d: %v", cfg.NodesPath(), len(nodes), len(hs), nodes)
			}
			if fi, err := os.Stat(filepath.Join(cfg.Dir, "notify.sh")); err != nil || fi.Mode()&0o100 == 0 {
				t.Errorf("notification script missing or not executable: %v", err)
			}
		})
	}
}
