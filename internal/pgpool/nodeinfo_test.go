package pgpool

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pgpool43 is what Debian's pgpool2 4.3.5 prints for pcp_node_info -a -v
// (captured from a real Pgpool with two backends, the second detached).
const pgpool43 = `Hostname               : 10.231.1.11
Port                   : 5432
Status                 : 2
Weight                 : 0.500000
Status Name            : up
Backend Status Name    : up
Role                   : primary
Backend Role           : primary
Replication Delay      : 0
Replication State      : none
Replication Sync State : none
Last Status Change     : 2026-11-30 02:24:02

Hostname               : 10.231.1.12
Port                   : 5432
Status                 : 3
Weight                 : 0.500000
Status Name            : down
Backend Status Name    : up
Role                   : standby
Backend Role           : standby
Replication Delay      : 0
Replication State      : 
Replication Sync State : 
Last Status Change     : 2026-11-30 02:25:10

`

// pgpool42 has no "Backend Status Name" or "Backend Role" (before 4.3).
const pgpool42 = `Hostname               : db1.example
Port                   : 5433
Status                 : 1
Weight                 : 1.000000
Status Name            : waiting
Role                   : primary
Replication Delay      : 0
Replication State      : none
Replication Sync State : none
Last Status Change     : 2021-02-27 14:51:30
`

func TestParseNodeInfo(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []Node
		wantErr string
	}{
		{name: "pgpool 4.3, two backends", out: pgpool43, want: []Node{
			{ID: 0, Hostname: "10.231.1.11", Port: 5432, Status: StatusPooled, Weight: "0.500000", Role: "primary", BackendRole: "primary", BackendStatus: "up", LastChange: "2026-11-30 02:24:02"},
			{ID: 1, Hostname: "10.231.1.12", Port: 5432, Status: StatusDown, Weight: "0.500000", Role: "standby", BackendRole: "standby", BackendStatus: "up", LastChange: "2026-11-30 02:25:10"},
		}},
		{name: "pgpool 4.2, no live columns", out: pgpool42, want: []Node{
			{ID: 0, Hostname: "db1.example", Port: 5433, Status: StatusUp, Weight: "1.000000", Role: "primary", LastChange: "2021-02-27 14:51:30"},
		}},
		{name: "empty output", out: "\n", wantErr: "no backends"},
		{name: "terse output instead of verbose", out: "10.0.0.1 5432 2 0.5 up up primary primary 0 none none 2026-11-30 02:24:02\n", wantErr: "no Hostname"},
		{name: "a line without a colon", out: "Hostname : h\nPort 5432\n", wantErr: "line 2"},
		{name: "port not a number", out: "Hostname : h\nPort : x\nStatus : 2\n", wantErr: `Port "x"`},
		{name: "status out of range", out: "Hostname : h\nPort : 5432\nStatus : 7\n", wantErr: `Status "7"`},
		{name: "no hostname", out: "Port : 5432\nStatus : 2\n", wantErr: "no Hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNodeInfo(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseNodeInfo: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("parseNodeInfo (-want +got):\n%s", d)
			}
		})
	}
}

func TestFindBackend(t *testing.T) {
	nodes := []Node{
		{ID: 0, Hostname: "10.0.0.1", Port: 5432},
		{ID: 1, Hostname: "10.0.0.2", Port: 5432},
		{ID: 2, Hostname: "DB3.example", Port: 5432},
		{ID: 3, Hostname: "10.0.0.2", Port: 5433},
		{ID: 4, Hostname: "fd00::5", Port: 5432},
	}
	tests := []struct {
		name    string
		nodes   []Node
		host    string
		port    int
		want    int
		wantErr string
	}{
		{name: "address and port", host: "10.0.0.2", port: 5432, want: 1},
		{name: "same address, other port", host: "10.0.0.2", port: 5433, want: 3},
		{name: "IPv4-mapped IPv6 is the same address", host: "::ffff:10.0.0.1", port: 5432, want: 0},
		{name: "IPv6 written longhand", host: "fd00:0:0:0:0:0:0:5", port: 5432, want: 4},
		{name: "host name, case aside", host: "db3.EXAMPLE", port: 5432, want: 2},
		{name: "port differs", host: "10.0.0.1", port: 5433, wantErr: "no Pgpool backend is node 10.0.0.1:5433 (Pgpool has 0=10.0.0.1:5432, 1=10.0.0.2:5432"},
		{name: "a name is never resolved to match an address", host: "10.0.0.3", port: 5432, wantErr: "no Pgpool backend is node 10.0.0.3:5432"},
		{name: "listed twice", nodes: []Node{{ID: 0, Hostname: "10.0.0.1", Port: 5432}, {ID: 1, Hostname: "10.0.0.1", Port: 5432}},
			host: "10.0.0.1", port: 5432, wantErr: "2 Pgpool backends are node 10.0.0.1:5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tt.nodes
			if ns == nil {
				ns = nodes
			}
			got, err := findBackend(ns, tt.host, tt.port)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("findBackend(%s, %d): %v, %v; want an error containing %q", tt.host, tt.port, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want {
				t.Errorf("findBackend(%s, %d) = backend %d, want %d", tt.host, tt.port, got.ID, tt.want)
			}
		})
	}
}
