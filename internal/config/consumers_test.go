package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// accessors are the Config methods through which a key is read, for keys
// the rest of the program reaches only through a derived path.
var accessors = map[string][]string{
	"lock.dir":  {"LockPath"},
	"pid.dir":   {"PidPath", "SocketPath"},
	"state.dir": {"StatePath"},
	"log.dir":   {"LogPath"},
}

// preflightOnly are not-built keys the start checks (agent/preflight.go)
// already read, to refuse a setting the key will need once it is built
// (auto.rewind needs wal_log_hints or checksums). Such a read does
// not make the key do anything, so the startup warning still holds.
var preflightOnly = map[string]string{
	"auto.rewind": filepath.Join("agent", "preflight.go"),
}

// TestEveryKeyHasAConsumerOrIsNamed keeps the promise of the startup
// warning: a key that is accepted but whose value nothing reads must be in
// notBuilt (or be a NoEffect key), so the agent names it; and a key in
// those lists must not be read, or the warning lies the other way. It scans
// the program's non-test sources outside this package for reads of the
// key's Config field (or of its accessor).
func TestEveryKeyHasAConsumerOrIsNamed(t *testing.T) {
	reads := fieldReads(t, moduleRoot(t))
	for _, k := range Keys() {
		field := fieldName(t, k.Name)
		names := append([]string{field}, accessors[k.Name]...)
		var where []string
		for _, n := range names {
			where = append(where, reads[n]...)
		}
		sort.Strings(where)
		switch k.Status {
		case NoEffect, NotBuilt:
			where = slices.DeleteFunc(where, func(f string) bool { return f == preflightOnly[k.Name] })
			if len(where) > 0 {
				t.Errorf("%s (Config.%s) is marked %s but is read in %s: it is built, take it out of notBuilt (lists.go) or its Status", k.Name, field, k.Status, strings.Join(where, ", "))
			}
		default:
			if len(where) == 0 {
				t.Errorf("%s (Config.%s) is accepted as %s but nothing outside internal/config reads it: build it, or add it to notBuilt (lists.go) so the startup warning names it", k.Name, field, k.Status)
			} else {
				t.Logf("%s: %s", k.Name, where[0])
			}
		}
	}
}

// fieldName is the name of the Config field key fills.
func fieldName(t *testing.T, key string) string {
	t.Helper()
	var c Config
	p := reflect.ValueOf(specByName[key].field(&c))
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Addr().Pointer() == p.Pointer() && f.Type() == p.Type().Elem() {
			return v.Type().Field(i).Name
		}
	}
	t.Fatalf("%s: its field func does not point into Config", key)
	return ""
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// fieldReads maps a selector name (x.Name) to the files that use it, among
// the non-test Go files outside internal/config that import this package.
func fieldReads(t *testing.T, root string) map[string][]string {
	t.Helper()
	const self = "github.com/openefm/efm/internal/config"
	reads := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("internal", "config") || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		imports := false
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				imports = true
			}
		}
		if !imports {
			return nil
		}
		seen := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && !seen[sel.Sel.Name] {
				seen[sel.Sel.Name] = true
				reads[sel.Sel.Name] = append(reads[sel.Sel.Name], rel)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	if len(reads["BindAddress"]) == 0 {
		t.Fatalf("found no read of Config.BindAddress under %s: the scan is broken", root)
	}
	return reads
}

// TestInertKeysAreNamed: the keys an EFM 5.x file sets whose value OpenEFM
// does not act on are named in the startup warning, at their default too,
// since EFM users copy whole files; an absent key is not named.
func TestInertKeysAreNamed(t *testing.T) {
	tests := []struct{ line, want string }{
		{"script.db.password.retry=10", "script.db.password.retry"},
		{"virtual.ip.single=false", "virtual.ip.single=false"},
		{"release.vip.background=true", "release.vip.background"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, warnings, err := Parse("efm", []byte(minimal+tt.line+"\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !mentions(warnings, tt.want) {
				t.Errorf("%s is not named as %q in the warnings %q", tt.line, tt.want, warnings)
			}
		})
	}
	_, warnings, err := Parse("efm", []byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, tt := range tests {
		if name, _, _ := strings.Cut(tt.want, "="); mentions(warnings, name) {
			t.Errorf("%s is named although the file does not set it: %q", name, warnings)
		}
	}
}
