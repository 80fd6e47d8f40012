package agent

import (
	"testing"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/membership"
)

// A witness is the same agent without a local database or fencing, even
// when its file sets the keys a database node would act on. Only a database
// node that checks a VIP or probes ping.server.ip runs the ping command;
// the others must start without one.
func TestWhatAWitnessLeavesOut(t *testing.T) {
	tests := []struct {
		name         string
		cfg          config.Config
		coreKind     core.Kind
		memberKind   membership.Kind
		localDB, vip bool
		ping         bool
	}{
		{"database node with a VIP", config.Config{VirtualIP: "192.0.2.10", ScriptCustomMonitor: "/bin/true"},
			core.KindDatabase, membership.KindDatabase, true, true, true},
		{"database node, no VIP, no ping server", config.Config{},
			core.KindDatabase, membership.KindDatabase, true, false, false},
		{"database node with a ping server", config.Config{PingServerIP: "192.0.2.1"},
			core.KindDatabase, membership.KindDatabase, true, false, true},
		{"witness with a VIP and a ping server", config.Config{IsWitness: true, VirtualIP: "192.0.2.10", PingServerIP: "192.0.2.1"},
			core.KindWitness, membership.KindWitness, false, false, false},
	}
	for _, tt := range tests {
		cfg := &tt.cfg
		if got := coreKind(cfg); got != tt.coreKind {
			t.Errorf("%s: coreKind = %v, want %v", tt.name, got, tt.coreKind)
		}
		if got := coreParams(cfg).Kind; got != tt.coreKind {
			t.Errorf("%s: core.Params.Kind = %v, want %v", tt.name, got, tt.coreKind)
		}
		if got := membershipKind(cfg); got != tt.memberKind {
			t.Errorf("%s: membershipKind = %v, want %v", tt.name, got, tt.memberKind)
		}
		if got := hasLocalDB(cfg); got != tt.localDB {
			t.Errorf("%s: hasLocalDB = %v, want %v", tt.name, got, tt.localDB)
		}
		if got := holdsVIP(cfg); got != tt.vip {
			t.Errorf("%s: holdsVIP = %v, want %v", tt.name, got, tt.vip)
		}
		if got := usesPing(cfg); got != tt.ping {
			t.Errorf("%s: usesPing = %v, want %v", tt.name, got, tt.ping)
		}
	}
}
