package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/config"
)

// Only a database node that checks a VIP or probes ping.server.ip runs
// the ping command; the others must start without one.
func TestUsesPing(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Config
		want bool
	}{
		{"database node, no VIP, no ping server", config.Config{}, false},
		{"database node with a VIP", config.Config{VirtualIP: "192.0.2.10"}, true},
		{"database node with a ping server", config.Config{PingServerIP: "192.0.2.1"}, true},
		{"witness with both", config.Config{IsWitness: true, VirtualIP: "192.0.2.10", PingServerIP: "192.0.2.1"}, false},
	}
	for _, tt := range tests {
		if got := usesPing(&tt.cfg); got != tt.want {
			t.Errorf("%s: usesPing = %v, want %v", tt.name, got, tt.want)
		}
	}
}

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
