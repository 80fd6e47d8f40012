package pgpool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakePCP writes PCP programs into a new directory: pcp_node_count and
// pcp_node_info -n N answer from nodeInfo (blocks separated by blank
// lines, as pcp_node_info --all --verbose prints them), every program appends its name, arguments and PCPPASSFILE to a
// log, and the programs named in scripts run that shell body instead.
func fakePCP(t *testing.T, nodeInfo string, scripts map[string]string) (bin, log string) {
	t.Helper()
	bin = t.TempDir()
	log = filepath.Join(bin, "calls.log")
	blocks := strings.Split(strings.TrimSpace(nodeInfo), "\n\n")
	for i, b := range blocks {
		if err := os.WriteFile(filepath.Join(bin, fmt.Sprintf("info.%d", i)), []byte(b+"\n\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range Programs {
		body := scripts[name]
		switch {
		case body != "":
		case name == "pcp_node_count":
			body = fmt.Sprintf("echo %d", len(blocks))
		case name == "pcp_node_info":
			body = "while [ $# -gt 0 ]; do [ \"$1\" = -n ] && id=$2; shift; done; cat " + bin + "/info.$id"
		}
		if body == "" {
			body = "echo " + name + " -- Command Successful"
		}
		sh := "#!/bin/sh\necho \"" + name + " $* PCPPASSFILE=$PCPPASSFILE\" >> " + log + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(sh), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func newClient(t *testing.T, bin string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(Config{Bin: bin, Host: "10.0.0.100", Port: 9898, User: "efmpcp", PassFile: "/etc/efm/pcppass", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each action looks the node up in pcp_node_info and acts on the index
// Pgpool gave it, with the common options and the password file.
func TestActionsUseTheBackendIndexPgpoolReports(t *testing.T) {
	tests := []struct {
		prog string
		do   func(*Client, context.Context, string, int) (Node, error)
	}{
		{"pcp_promote_node", (*Client).Promote},
		{"pcp_detach_node", (*Client).Detach},
		{"pcp_attach_node", (*Client).Attach},
	}
	for _, tt := range tests {
		t.Run(tt.prog, func(t *testing.T) {
			bin, log := fakePCP(t, pgpool43, nil)
			n, err := tt.do(newClient(t, bin, 0), context.Background(), "10.231.1.12", 5432)
			if err != nil {
				t.Fatal(err)
			}
			if n.ID != 1 {
				t.Errorf("acted on backend %d, want 1 (10.231.1.12:5432)", n.ID)
			}
			common := "-h 10.0.0.100 -p 9898 -U efmpcp -w"
			want := []string{
				"pcp_node_count " + common + " PCPPASSFILE=/etc/efm/pcppass",
				"pcp_node_info " + common + " --verbose -n 0 PCPPASSFILE=/etc/efm/pcppass",
				"pcp_node_info " + common + " --verbose -n 1 PCPPASSFILE=/etc/efm/pcppass",
				tt.prog + " " + common + " -n 1 PCPPASSFILE=/etc/efm/pcppass",
			}
			if got := calls(t, log); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("commands run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestErrorsNameNodeCommandAndPgpool(t *testing.T) {
	tests := []struct {
		name    string
		scripts map[string]string
		host    string
		timeout time.Duration
		want    []string
	}{
		{name: "command fails", host: "10.231.1.11",
			scripts: map[string]string{"pcp_detach_node": "echo 'ERROR:  invalid degenerate backend request, node id : 0 status: [3] is not valid for failover' >&2; exit 1"},
			want:    []string{"detaching node 10.231.1.11:5432 (Pgpool backend 0)", "pcp_detach_node against Pgpool at 10.0.0.100:9898", "exit status 1", "node id : 0 status: [3] is not valid"}},
		{name: "authentication fails", host: "10.231.1.11",
			scripts: map[string]string{"pcp_node_count": "echo 'FATAL:  authentication failed for user \"efmpcp\"' >&2; exit 1"},
			want:    []string{"detaching node 10.231.1.11:5432", "pcp_node_count against Pgpool at 10.0.0.100:9898", `authentication failed for user "efmpcp"`}},
		{name: "node unknown to Pgpool", host: "10.231.1.13",
			want: []string{"detaching node 10.231.1.13:5432", "no Pgpool backend is node 10.231.1.13:5432", "0=10.231.1.11:5432, 1=10.231.1.12:5432"}},
		{name: "Pgpool hangs", host: "10.231.1.11", timeout: 200 * time.Millisecond,
			scripts: map[string]string{"pcp_node_info": "exec sleep 30"},
			want:    []string{"detaching node 10.231.1.11:5432", "pcp_node_info against Pgpool at 10.0.0.100:9898: no answer within 200ms"}},
		{name: "node count not a number", host: "10.231.1.11",
			scripts: map[string]string{"pcp_node_count": "echo two"},
			want:    []string{"detaching node 10.231.1.11:5432", `pcp_node_count against 10.0.0.100:9898 answered "two", not a count`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, _ := fakePCP(t, pgpool43, tt.scripts)
			_, err := newClient(t, bin, tt.timeout).Detach(context.Background(), tt.host, 5432)
			if err == nil {
				t.Fatal("Detach succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func TestNewRequiresEveryPCPKey(t *testing.T) {
	_, err := New(Config{Host: "pgpool", Port: 9898})
	if err == nil || !strings.Contains(err.Error(), "pcp.user, pcp.pass.file not set") {
		t.Errorf("New without pcp.user and pcp.pass.file: %v", err)
	}
	_, err = New(Config{Host: "pgpool", Port: 70000, User: "u", PassFile: "/p"})
	if err == nil || !strings.Contains(err.Error(), "pcp.port 70000") {
		t.Errorf("New with pcp.port 70000: %v", err)
	}
}
