package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCreateStandbyRefusals: create-standby never touches a database that
// is there, needs a database node and its agent, and a known primary; each
// refusal is one line and exit 1. (Building a standby is tested on real
// hosts: integration TestCreateStandby.)
func TestCreateStandbyRefusals(t *testing.T) {
	wit := witnessConfig(t, "")
	if _, errOut, code := efm(t, "create-standby", "efm", "-config-dir", wit); code != 1 || !strings.Contains(errOut, "witness") {
		t.Errorf("on a witness: exit %d, stderr %q; want exit 1 naming the witness", code, errOut)
	}

	db := databaseConfig(t, "")
	data := filepath.Join(db, "data")
	if _, errOut, code := efm(t, "create-standby", "efm", "-config-dir", db); code != 1 || !strings.Contains(errOut, "Is the local agent running?") {
		t.Errorf("without an agent: exit %d, stderr %q; want exit 1 asking for the agent", code, errOut)
	}

	witnessAgent(t, db) // a lone database agent: no primary anywhere
	poll(t, 30*time.Second, "the database agent answers", func() bool {
		_, err := clusterStatus(t, db)
		return err == nil
	})
	_, errOut, code := efm(t, "create-standby", "efm", "-config-dir", db)
	if code != 1 || !strings.Contains(errOut, "no primary is known") || len(errorLines(errOut)) != 1 {
		t.Errorf("without a primary: exit %d, stderr %q; want exit 1, one line: no primary is known", code, errOut)
	}

	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = efm(t, "create-standby", "efm", "-config-dir", db)
	if code != 1 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, data) || len(errorLines(errOut)) != 1 {
		t.Errorf("over a database: exit %d, stderr %q; want exit 1, one line naming %s", code, errOut, data)
	}
	if b, err := os.ReadFile(filepath.Join(data, "PG_VERSION")); err != nil || string(b) != "15\n" {
		t.Errorf("the existing data directory was touched: %q, %v", b, err)
	}
}
