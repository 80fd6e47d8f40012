package membership

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func withKey(key []byte) nodeOpt {
	return func(c *Config) { c.Encrypt, c.Key = key != nil, key }
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptedClusterForms(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	ns := startCluster(t, "efm", 3, withKey(key))
	// A message between two encrypted members arrives intact.
	if err := ns[1].Send(ctxT(t), ns[2].Name(), []byte("hello")); err != nil {
		t.Fatalf("send over the encrypted cluster: %v", err)
	}
	expectMsg(t, ns[2], ns[1].Name(), "hello", true)
}

// TestNoMergeWhenSettingsDiffer: two nodes that list each other but differ
// in key, encryption or cluster name never merge, and both log why.
func TestNoMergeWhenSettingsDiffer(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKey(t), mustKey(t)
	cases := []struct {
		name               string
		aOpts, bOpts       []nodeOpt
		aCluster, bCluster string
		aLog, bLog         string // substrings each side must log
	}{
		{"key mismatch", []nodeOpt{withKey(k1)}, []nodeOpt{withKey(k2)}, "efm", "efm", "decrypt", "could not join"},
		{"encrypted vs plain", []nodeOpt{withKey(k1)}, nil, "efm", "efm", "", "could not join"},
		{"other cluster name", nil, nil, "efm", "other", "label", "could not join"},
		{"node timeout differs", nil, []nodeOpt{func(c *Config) { c.NodeTimeout = 2 * time.Second }}, "efm", "efm",
			"must be the same on every node", "must be the same on every node"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			aIP, bIP := takeIP(t), takeIP(t)
			a := startNode(t, tc.aCluster, aIP, append(tc.aOpts, withJoin(bIP))...)
			b := startNode(t, tc.bCluster, bIP, append(tc.bOpts, withJoin(aIP))...)
			waitFor(t, settle, "both log why they did not merge", func() (bool, string) {
				return (tc.aLog == "" || a.logs.contains(tc.aLog)) && b.logs.contains(tc.bLog), "not yet logged"
			})
			// Give the rejoin loop a few rounds to (wrongly) merge them.
			time.Sleep(3 * a.Timing().Rejoin) // observation window, not synchronisation
			for _, n := range []*testNode{a, b} {
				if got := memberNames(n.Membership); len(got) != 1 {
					t.Errorf("%s merged: %s", n.ip, view(n.Membership))
				}
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := mustKey(t)
	if len(key) != KeySize {
		t.Fatalf("generated key is %d bytes, want %d", len(key), KeySize)
	}
	path := filepath.Join(dir, "efm.key")
	if err := WriteKeyFile(path, key); err != nil {
		t.Fatalf("write: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	got, err := ReadKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("read back %x, %v; want %x", got, err, key)
	}

	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"group-readable", "AAAA", 0o640, "readable only by its owner"},
		{"world-readable", "AAAA", 0o604, "chmod 600"},
		{"not-base64", "%%%", 0o600, "not base64"},
		{"short", "AAAA", 0o600, "want 32"},
	}
	for _, b := range bad {
		_, err := ReadKeyFile(write(b.name, b.content, b.mode))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %v, want one saying %q", b.name, err, b.want)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing key file: no error")
	}
	if err := WriteKeyFile(filepath.Join(dir, "x"), []byte("short")); err == nil {
		t.Errorf("writing a 5-byte key: no error")
	}
}
