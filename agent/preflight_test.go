package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "with space.sh")
	plain := filepath.Join(dir, "plain")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		line, want string // want "" = accepted, else a part of the error
	}{
		{"'" + exe + "' %p %f", ""},
		{plain + " arg", "not executable"},
		{dir + " arg", "not a regular file"},
		{filepath.Join(dir, "missing") + " %p", "no such file"},
		{"'" + exe, "unterminated"},
	}
	for _, tt := range tests {
		err := checkProgram(tt.line)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.line, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: error %v, want one saying %q", tt.line, err, tt.want)
		}
	}
}
