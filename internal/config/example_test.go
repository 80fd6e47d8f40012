package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite efm.properties.example from Keys()")

const examplePath = "../../efm.properties.example"

func TestExampleUpToDate(t *testing.T) {
	want := Example()
	if *update {
		if err := os.WriteFile(examplePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the key table; run: go test ./internal/config -run TestExampleUpToDate -update", examplePath)
	}
}

// propertyLine matches "key=value" and the commented-out "#key=value";
// prose comments start with "# ".
var propertyLine = regexp.MustCompile(`(?m)^#?([A-Za-z][A-Za-z0-9.]*)=`)

func TestExampleListsEveryKeyAndOnlyKnownKeys(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	inFile := make(map[string]int)
	for _, m := range propertyLine.FindAllSubmatch(data, -1) {
		inFile[string(m[1])]++
	}
	for _, k := range Keys() {
		if inFile[k.Name] != 1 {
			t.Errorf("key %s appears %d times in the example, want once", k.Name, inFile[k.Name])
		}
	}
	for name := range inFile {
		if _, ok := LookupKey(name); !ok {
			t.Errorf("the example lists %s, which is not a known key", name)
		}
	}
}

func TestExampleParsesAsIs(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "efm.properties")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, warnings, err := Load(dir, "efm")
	if err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
	t.Logf("warnings: %q", warnings)
	if c.Cluster != "efm" || c.BindAddress.String() != "127.0.0.1:7800" || c.LocalTimeout.Seconds() != 3 {
		t.Errorf("example loaded as cluster %q bind %s local.timeout %s (the fast profile sets 3 s)", c.Cluster, c.BindAddress, c.LocalTimeout)
	}
	// The example sets the fast profile; the same file without its timer
	// lines, as an EFM file that sets none, keeps EFM's defaults.
	noTimers := regexp.MustCompile(`(?m)^(local\.period|local\.timeout|local\.timeout\.final|remote\.timeout|node\.timeout)=.*\n`).ReplaceAll(data, nil)
	c0, _, err := Parse("efm", noTimers)
	if err != nil {
		t.Fatalf("example without timers does not load:\n%v", err)
	}
	if c0.LocalPeriod.Seconds() != 10 || c0.LocalTimeout.Seconds() != 60 || c0.LocalTimeoutFinal.Seconds() != 10 ||
		c0.RemoteTimeout.Seconds() != 10 || c0.NodeTimeout.Seconds() != 50 {
		t.Errorf("a file that sets no timer: local.period %s local.timeout %s local.timeout.final %s remote.timeout %s node.timeout %s, want EFM's 10/60/10/10/50 s",
			c0.LocalPeriod, c0.LocalTimeout, c0.LocalTimeoutFinal, c0.RemoteTimeout, c0.NodeTimeout)
	}
	// Uncommenting every commented-out key must still load, with each of
	// them named in a warning.
	all := regexp.MustCompile(`(?m)^#([a-z])`).ReplaceAll(data, []byte("$1"))
	c2, warnings, err := Parse("efm", all)
	if err != nil {
		t.Fatalf("example with every key uncommented does not load:\n%v", err)
	}
	for _, k := range Keys() {
		if k.Status == NoEffect || k.Status == NotBuilt {
			if !mentions(warnings, k.Name) {
				t.Errorf("uncommented %s (%s) is not named in the warnings %q", k.Name, k.Status, warnings)
			}
		}
	}
	_ = c2
}
