package pgpool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPassFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		mode    os.FileMode // 0: do not create
		path    string
		wantErr string
	}{
		{name: "0600", mode: 0o600},
		{name: "0400", mode: 0o400},
		{name: "0644 is ignored by the PCP commands", mode: 0o644, wantErr: "has mode 0644, open to group or others"},
		{name: "0640", mode: 0o640, wantErr: "has mode 0640"},
		{name: "0606", mode: 0o606, wantErr: "has mode 0606"},
		{name: "missing", wantErr: "no such file or directory"},
		{name: "a directory", path: dir, wantErr: "is not a regular file"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			if p == "" {
				p = filepath.Join(dir, "pcppass"+string(rune('a'+i)))
			}
			if tt.mode != 0 {
				if err := os.WriteFile(p, []byte("*:*:efm:secret\n"), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.mode); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			err := CheckPassFile(p)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckPassFile: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
				t.Errorf("CheckPassFile: %v, want an error naming %s and containing %q", err, p, tt.wantErr)
			}
		})
	}
}

func TestCheckPrograms(t *testing.T) {
	full, _ := fakePCP(t, "", nil)
	if err := CheckPrograms(full); err != nil {
		t.Errorf("CheckPrograms(%s) with every program: %v", full, err)
	}

	partial, _ := fakePCP(t, "", nil)
	if err := os.Remove(filepath.Join(partial, "pcp_promote_node")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(partial, "pcp_attach_node"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := CheckPrograms(partial)
	for _, w := range []string{partial + "/pcp_promote_node: no such file", partial + "/pcp_attach_node is not executable", "accepted: the directory of Pgpool-II's pcp_* programs"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("CheckPrograms(%s) = %v, want an error containing %q", partial, err, w)
		}
	}

	t.Setenv("PATH", t.TempDir())
	if err := CheckPrograms(""); err == nil || !strings.Contains(err.Error(), "pcp_node_info is not in PATH") || !strings.Contains(err.Error(), "pgpool.bin unset") {
		t.Errorf("CheckPrograms(\"\") with no programs in PATH = %v", err)
	}
}
