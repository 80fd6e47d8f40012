package pg

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func baseConfig() Config {
	return Config{Node: "n1", Host: "127.0.0.1", Port: 5432, User: "postgres", Database: "postgres"}
}

// jdbc.sslmode maps onto pgx's libpq semantics.
func TestSSLModeMapping(t *testing.T) {
	tests := []struct {
		mode           string
		wantTLS        bool
		wantSkipVerify bool   // Go's own hostname+chain verification off
		wantCustom     bool   // chain verified by a callback (verify-ca)
		wantServerName string // SNI; checked against the certificate only in verify-full
	}{
		{"disable", false, false, false, ""},
		{"", false, false, false, ""}, // EFM default
		{"require", true, true, false, "db.example"},
		{"verify-ca", true, true, true, "db.example"},
		{"verify-full", true, false, false, "db.example"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c := baseConfig()
			c.Host = "db.example"
			c.SSLMode = tt.mode
			cc, err := c.ConnConfig("pw")
			if err != nil {
				t.Fatal(err)
			}
			if len(cc.Fallbacks) != 0 {
				t.Errorf("%d fallbacks: sslmode %q must not silently fall back to another mode", len(cc.Fallbacks), tt.mode)
			}
			tc := cc.TLSConfig
			if (tc != nil) != tt.wantTLS {
				t.Fatalf("TLS = %v, want %v", tc != nil, tt.wantTLS)
			}
			if tc == nil {
				return
			}
			if tc.InsecureSkipVerify != tt.wantSkipVerify {
				t.Errorf("InsecureSkipVerify = %v, want %v", tc.InsecureSkipVerify, tt.wantSkipVerify)
			}
			if (tc.VerifyPeerCertificate != nil) != tt.wantCustom {
				t.Errorf("custom chain verification = %v, want %v", tc.VerifyPeerCertificate != nil, tt.wantCustom)
			}
			if tc.ServerName != tt.wantServerName {
				t.Errorf("ServerName = %q, want %q", tc.ServerName, tt.wantServerName)
			}
			if cc.Password != "pw" {
				t.Errorf("password not set")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad sslmode", func(c *Config) { c.SSLMode = "prefer" }, "accepted values are disable, require, verify-ca, verify-full"},
		{"no host", func(c *Config) { c.Host = "" }, "host"},
		{"bad port", func(c *Config) { c.Port = 70000 }, "port 70000"},
		{"no user", func(c *Config) { c.User = "" }, "db.user"},
		{"no database", func(c *Config) { c.Database = "" }, "db.database"},
		{"negative reuse", func(c *Config) { c.ReuseConnectionCount = -1 }, "db.reuse.connection.count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig()
			tt.mutate(&c)
			_, err := New(c, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	d, err := New(baseConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Config(); got.SSLMode != "disable" || got.ConnectTimeout != 10*time.Second || got.ServiceOwner != "postgres" {
		t.Errorf("defaults not applied: %+v", got)
	}
}

func TestCheckRole(t *testing.T) {
	if err := CheckRole("n1", RoleStandby, Status{InRecovery: true}); err != nil {
		t.Errorf("standby in recovery: %v", err)
	}
	if err := CheckRole("n1", RolePrimary, Status{}); err != nil {
		t.Errorf("primary out of recovery: %v", err)
	}
	err := CheckRole("n1", RoleStandby, Status{InRecovery: false})
	var ws *WrongStateError
	if !errors.As(err, &ws) || ws.Expected != RoleStandby || ws.Observed != RolePrimary || !strings.Contains(err.Error(), "Database in wrong state") {
		t.Errorf("standby out of recovery: %v", err)
	}
	if err := CheckRole("n1", RolePrimary, Status{InRecovery: true}); !errors.Is(err, ErrWrongState) {
		t.Errorf("primary in recovery: %v", err)
	}
}
