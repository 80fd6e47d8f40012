package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadNodes(t *testing.T) {
	path := writeFile(t, "efm.nodes", `# List of node address:port combinations separated by whitespace.
# The list should include at least the membership coordinator's address.

10.0.0.5:7800 10.0.0.6:7800   # two on one line
[fd00::7]:7800
	node8.example.com:7800
10.0.0.5:7800
`)
	got, err := ReadNodes(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostPort{{"10.0.0.5", 7800}, {"10.0.0.6", 7800}, {"fd00::7", 7800}, {"node8.example.com", 7800}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	empty := writeFile(t, "first.nodes", "# first node of the cluster\n\n")
	if got, err := ReadNodes(empty); err != nil || len(got) != 0 {
		t.Errorf("empty nodes file: %v, %v; want no entries, no error", got, err)
	}
}

func TestReadNodesReportsEveryBadLine(t *testing.T) {
	path := writeFile(t, "efm.nodes", "10.0.0.5:7800\n10.0.0.6\n# ok\nfd00::7:7800 10.0.0.8:99999\n10.0.0.9:7800\n")
	_, err := ReadNodes(path)
	want := []string{
		path + `:2: "10.0.0.6" is not address:port; accepted: <address>:<port>, IPv6 as [addr]:port, port 1-65535`,
		path + `:4: "fd00::7:7800" is not address:port; accepted: <address>:<port>, IPv6 as [addr]:port, port 1-65535`,
		path + `:4: "10.0.0.8:99999" is not address:port; accepted: <address>:<port>, IPv6 as [addr]:port, port 1-65535`,
	}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ReadNodes(filepath.Join(t.TempDir(), "none.nodes")); err == nil || !strings.Contains(err.Error(), "none.nodes") {
		t.Errorf("missing file: %v, want an error naming it", err)
	}
}

func TestWriteNodes(t *testing.T) {
	header := "# Cluster efm members, managed by OpenEFM\n# keep this comment\n"
	path := writeFile(t, "efm.nodes", header+"10.0.0.5:7800\n")
	err := WriteNodes(path, []string{"10.0.0.6:7800", "10.0.0.5:7800", "[fd00:0::7]:7800", "10.0.0.6:7800"}, "10.0.0.5:7800")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := header + "10.0.0.6:7800\n[fd00::7]:7800\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old file's 0640", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after the write, want only the nodes file (no temp file left)", len(entries))
	}
	// What was written reads back, without self.
	got, err := ReadNodes(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]HostPort{{"10.0.0.6", 7800}, {"fd00::7", 7800}}, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func TestWriteNodesNewFileAndBadEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efm.nodes")
	if err := WriteNodes(path, nil, "10.0.0.5:7800"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != defaultNodesHeader {
		t.Errorf("new empty nodes file = %q, want only the default header", data)
	}
	err := WriteNodes(path, []string{"10.0.0.6:7800", "bogus"}, "10.0.0.5:7800")
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("err = %v, want one naming the bad entry", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(data) {
		t.Errorf("a refused write changed the file to %q", after)
	}
	if err := WriteNodes(path, nil, "nonsense"); err == nil {
		t.Error("a bad self address was accepted")
	}
}

func TestHostPortText(t *testing.T) {
	for _, in := range []string{"10.0.0.5:7800", "[fd00::5]:7800", "node1.example.com:7800"} {
		var hp HostPort
		if err := hp.UnmarshalText([]byte(in)); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, _ := hp.MarshalText()
		if string(out) != in {
			t.Errorf("%s came back as %s", in, out)
		}
	}
	hp, err := ParseHostPort("[FD00:0::5]:7800")
	if err != nil || hp != (HostPort{"fd00::5", 7800}) {
		t.Errorf("ParseHostPort canonical IPv6 = %v, %v", hp, err)
	}
	for _, bad := range []string{"10.0.0.5", "fd00::5:7800", "-bad-:1", "10.0.0.5:0", ":7800"} {
		if _, err := ParseHostPort(bad); err == nil {
			t.Errorf("ParseHostPort(%q) accepted", bad)
		}
	}
}
