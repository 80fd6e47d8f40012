package core

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every log line the core asks for names its level (slog.LevelWarn), never
// a number (8 is slog.LevelError, -4 slog.LevelDebug): a reader should not
// need slog's numbering to see how loud a decision is. The check is by
// type, so it holds however the logging helpers are named: an integer
// literal that the compiler turns into a slog.Level is refused.
func TestLogLevelsAreNamed(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	if _, err := conf.Check("github.com/openefm/efm/internal/core", fset, files, info); err != nil {
		t.Fatalf("type-checking the core: %v", err)
	}
	// A named constant is the way to give a level a name (as
	// config.LevelTrace does): literals inside const declarations pass.
	var consts []ast.Node
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				consts = append(consts, g)
			}
		}
	}
	inConst := func(n ast.Node) bool {
		for _, c := range consts {
			if c.Pos() <= n.Pos() && n.End() <= c.End() {
				return true
			}
		}
		return false
	}
	var found []string
	for expr, tv := range info.Types {
		lit := expr
		if u, ok := expr.(*ast.UnaryExpr); ok {
			lit = u.X
		}
		if b, ok := lit.(*ast.BasicLit); !ok || b.Kind != token.INT || inConst(expr) {
			continue
		}
		if named, ok := tv.Type.(*types.Named); ok && named.Obj().Pkg() != nil &&
			named.Obj().Pkg().Path() == "log/slog" && named.Obj().Name() == "Level" {
			found = append(found, fmt.Sprintf("%s: log level %s written as a number", fset.Position(expr.Pos()), types.ExprString(expr)))
		}
	}
	slices.Sort(found)
	for _, f := range found {
		t.Error(f + "; use slog.LevelDebug, LevelInfo, LevelWarn or LevelError")
	}
}
