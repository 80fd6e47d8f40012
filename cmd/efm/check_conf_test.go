package main

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCheckConfAutoRewindNeedsHints: auto.rewind=true on a database
// without wal_log_hints or checksums is refused by check-conf with one line
// naming the key and the setting; with wal_log_hints=on it is accepted.
func TestCheckConfAutoRewindNeedsHints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: needs root to initdb as the postgres user")
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("SKIPPING: no postgres user: %v", err)
	}
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		t.Skipf("SKIPPING: %v", err)
	}
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	if err := os.Chown(base, uid, -1); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if out, err := exec.Command("runuser", "-u", "postgres", "--", "sh", "-c",
		`cd / && "$1"/initdb -D "$2" -A trust --no-sync >/dev/null`, "sh", pgBin, data).CombinedOutput(); err != nil {
		t.Fatalf("initdb in %s: %v: %s", base, err, out)
	}
	dir := witnessConfig(t, "is.witness=false\ndb.bin="+pgBin+"\ndb.data.dir="+data+"\ndb.service.owner=postgres\nauto.rewind=true\n")

	out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", dir)
	lines := errorLines(errOut)
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "auto.rewind") || !strings.Contains(lines[0], "wal_log_hints") {
		t.Fatalf("check-conf with wal_log_hints off: exit %d, lines %q (stdout %q); want exit 1 and one line naming auto.rewind and wal_log_hints", code, lines, out)
	}
	t.Logf("refused: %s", lines[0])

	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("wal_log_hints = on\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", dir); code != 0 {
		t.Errorf("check-conf with wal_log_hints on: exit %d\n%s%s", code, out, errOut)
	}
}
