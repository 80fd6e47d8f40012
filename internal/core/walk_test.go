package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// walkSection is the heading of docs/core.md's end-to-end walk through one
// failover. Every function it names must exist, so the walk cannot silently
// go stale when the code is reshaped.
const walkSection = "## One failover, end to end"

// walkPackages maps the package names the walk may qualify a function with
// to their directories, relative to the repository root.
var walkPackages = map[string]string{
	"core":       "internal/core",
	"agent":      "agent",
	"sim":        "internal/sim",
	"pg":         "internal/pg",
	"membership": "internal/membership",
	"fencing":    "fencing",
	"hooks":      "internal/hooks",
	"notify":     "internal/notify",
}

// walkName matches a function as the walk writes it, in backticks and with
// parentheses: `Decide()`, `core.Decide()`, `(*Node).Step()`,
// `agent.(*shell).do()`.
var walkName = regexp.MustCompile("`(?:([a-z]+)\\.)?(?:\\(\\*?([A-Za-z_][A-Za-z0-9_]*)\\)\\.)?([A-Za-z_][A-Za-z0-9_]*)\\(\\)`")

func TestCoreWalkNamesExist(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "core.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, walkSection+"\n")
	if start < 0 {
		t.Fatalf("docs/core.md has no %q section", walkSection)
	}
	section := text[start+len(walkSection):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	decls := map[string]map[string]bool{} // package -> "Func" or "Type.Method"
	declsOf := func(pkg string) map[string]bool {
		if d, ok := decls[pkg]; ok {
			return d
		}
		d := map[string]bool{}
		fset := token.NewFileSet()
		dir := filepath.Join(root, walkPackages[pkg])
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("package %s: no Go files in %s (%v)", pkg, dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, dcl := range af.Decls {
				fd, ok := dcl.(*ast.FuncDecl)
				if !ok {
					continue
				}
				name := fd.Name.Name
				if fd.Recv != nil && len(fd.Recv.List) == 1 {
					typ := fd.Recv.List[0].Type
					if st, ok := typ.(*ast.StarExpr); ok {
						typ = st.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						name = id.Name + "." + name
					}
				}
				d[name] = true
			}
		}
		decls[pkg] = d
		return d
	}
	matches := walkName.FindAllStringSubmatch(section, -1)
	if len(matches) < 10 {
		t.Fatalf("the walk names %d functions; it should follow one failover through the code, naming each step", len(matches))
	}
	for _, m := range matches {
		pkg, typ, fn := m[1], m[2], m[3]
		if pkg == "" {
			pkg = "core"
		}
		if _, ok := walkPackages[pkg]; !ok {
			t.Errorf("%s: unknown package %q (known: core, agent, sim, pg, membership, fencing, hooks, notify)", m[0], pkg)
			continue
		}
		name := fn
		if typ != "" {
			name = typ + "." + fn
		}
		if !declsOf(pkg)[name] {
			t.Errorf("docs/core.md's walk names %s, which does not exist in %s", m[0], walkPackages[pkg])
		}
	}
}
