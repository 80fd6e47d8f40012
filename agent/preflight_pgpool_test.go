package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/pgpool"
)

// pgpool.enable=true is refused by the start checks (and so by
// check-conf) without every pcp.* key, with a pass file the PCP commands
// would ignore, or with a pgpool.bin lacking the pcp_* programs: one line
// per problem, naming the key.
func TestPreflightRefusesIncompletePgpool(t *testing.T) {
	bin := t.TempDir()
	for _, p := range pgpool.Programs {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	noPromote := t.TempDir()
	for _, p := range pgpool.Programs[:len(pgpool.Programs)-1] {
		if err := os.WriteFile(filepath.Join(noPromote, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pass := filepath.Join(t.TempDir(), "pcppass")
	if err := os.WriteFile(pass, []byte("*:*:efm:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "pcppass")
	if err := os.WriteFile(open, []byte("*:*:efm:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	full := fmt.Sprintf("pgpool.enable=true\npcp.user=efm\npcp.host=10.0.0.100\npcp.port=9898\npcp.pass.file=%s\npgpool.bin=%s\n", pass, bin)
	without := func(key string) string {
		var keep []string
		for _, l := range strings.Split(full, "\n") {
			if !strings.HasPrefix(l, key+"=") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	tests := []struct {
		name  string
		props string
		want  [][]string // parts of each error line, in order; nil = accepted
	}{
		{"complete", full, nil},
		{"pgpool disabled, nothing set", "pgpool.enable=false\n", nil},
		{"no pcp.user", without("pcp.user"), [][]string{{"pcp.user", "not set", "pgpool.enable=true", "accepted: a user of Pgpool's pcp.conf"}}},
		{"no pcp.host", without("pcp.host"), [][]string{{"pcp.host", "not set", "accepted"}}},
		{"no pcp.port", without("pcp.port"), [][]string{{"pcp.port", "not set", "accepted: Pgpool's pcp_port"}}},
		{"no pcp.pass.file", without("pcp.pass.file"), [][]string{{"pcp.pass.file", "not set", "mode 0600"}}},
		{"nothing but pgpool.enable", fmt.Sprintf("pgpool.enable=true\npgpool.bin=%s\n", bin),
			[][]string{{"pcp.user"}, {"pcp.host"}, {"pcp.port"}, {"pcp.pass.file"}}},
		{"pass file open to others", strings.Replace(full, pass, open, 1),
			[][]string{{"pcp.pass.file", open, "mode 0644", "accepted: 0600"}}},
		{"pass file missing", strings.Replace(full, pass, pass+".missing", 1),
			[][]string{{"pcp.pass.file", pass + ".missing", "no such file"}}},
		{"pgpool.bin without pcp_promote_node", strings.Replace(full, bin, noPromote, 1),
			[][]string{{"pgpool.bin", noPromote + "/pcp_promote_node", "no such file", "accepted"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := witnessRunConfig(t, tt.props)
			var lines []string
			for _, err := range Preflight(context.Background(), cfg) {
				lines = append(lines, err.Error())
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d error lines %q, want %d", len(lines), lines, len(tt.want))
			}
			for i, parts := range tt.want {
				if strings.Contains(lines[i], "\n") {
					t.Errorf("error %q spans lines", lines[i])
				}
				for _, w := range parts {
					if !strings.Contains(lines[i], w) {
						t.Errorf("error %q lacks %q", lines[i], w)
					}
				}
			}
		})
	}
}
