package agent

import (
	"strings"
	"testing"

	"github.com/openefm/efm/internal/config"
)

// The TLS files of jdbc.properties reach the database connection.
func TestPgConfigTLSFiles(t *testing.T) {
	cfg, _, err := config.Parse("efm", []byte(`db.user=efm
db.password.encrypted=00
db.port=5432
db.database=postgres
bind.address=10.0.0.1:7800
is.witness=true
jdbc.sslmode=verify-ca
jdbc.properties=sslrootcert=/etc/efm/ca.crt&sslcert=/etc/efm/client.crt&sslkey=/etc/efm/client.key
`))
	if err != nil {
		t.Fatal(err)
	}
	c := pgConfig(cfg, nil)
	if c.SSLRootCert != "/etc/efm/ca.crt" || c.SSLCert != "/etc/efm/client.crt" || c.SSLKey != "/etc/efm/client.key" || c.SSLMode != "verify-ca" {
		t.Errorf("pg.Config TLS = mode %q root %q cert %q key %q", c.SSLMode, c.SSLRootCert, c.SSLCert, c.SSLKey)
	}
	want := "sslrootcert='/etc/efm/ca.crt' sslcert='/etc/efm/client.crt' sslkey='/etc/efm/client.key'"
	if got := c.ConnString(); !strings.Contains(got, want) {
		t.Errorf("connection string %q lacks %q", got, want)
	}
}
