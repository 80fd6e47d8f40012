package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckExecutable(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	exe := filepath.Join(dir, "exe")
	for p, mode := range map[string]os.FileMode{plain: 0o644, exe: 0o755} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{exe, ""},
		{plain, plain + " is not executable (mode -rw-r--r--): chmod +x it"},
		{dir, dir + " is not a regular file"},
		{filepath.Join(dir, "missing"), filepath.Join(dir, "missing") + ": no such file or directory"},
	} {
		err := CheckExecutable(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckExecutable(%s) = %v, want nil", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckExecutable(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
