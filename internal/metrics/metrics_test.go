package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestServeExportsSnapshot(t *testing.T) {
	a := New("efm", "10.0.0.11", func() bool { return true })
	a.Set(Snapshot{Role: "Primary", Epoch: 3, Lease: true, DBUp: true, Alive: 3, Down: 1})
	a.Action("promote-db")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Serve(ctx, addr, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`efm_agent_role{cluster="efm",node="10.0.0.11",role="Primary"} 1`,
		`efm_agent_role{cluster="efm",node="10.0.0.11",role="Standby"} 0`,
		`efm_epoch{cluster="efm",node="10.0.0.11"} 3`,
		`efm_primary_lease_held{cluster="efm",node="10.0.0.11"} 1`,
		`efm_members{cluster="efm",node="10.0.0.11",state="DOWN"} 1`,
		`efm_vip_held{cluster="efm",node="10.0.0.11"} 1`,
		`efm_actions_total{action="promote-db",cluster="efm",node="10.0.0.11"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
