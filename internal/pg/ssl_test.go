package pg

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority for one test, its certificate in file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

// newTestCA makes a CA and writes its certificate as <prefix>-ca.crt.
func newTestCA(t *testing.T, dir, prefix string) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prefix + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ca := testCA{cert: caCert, key: caKey, file: filepath.Join(dir, prefix+"-ca.crt")}
	writePEM(t, ca.file, "CERTIFICATE", caDER, 0o644)
	return ca
}

// issue signs a certificate for cn (a DNS name too when usage is server
// authentication) and writes it and its key as <name>.crt and <name>.key.
func (ca testCA) issue(t *testing.T, dir, name, cn string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{cn}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der, 0o644)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER, 0o600)
	return certFile, keyFile
}

// writeCA makes a CA and, when serverDNS is set, a server certificate
// signed by it for that name only (no IP address), as PEM files in dir.
func writeCA(t *testing.T, dir, prefix, serverDNS string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := newTestCA(t, dir, prefix)
	if serverDNS == "" {
		return ca.file, "", ""
	}
	certFile, keyFile = ca.issue(t, dir, prefix+"-server", serverDNS, x509.ExtKeyUsageServerAuth)
	chownPostgres(t, certFile)
	chownPostgres(t, keyFile)
	return ca.file, certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

// jdbc.sslmode against a server with TLS: require encrypts without
// checking, verify-ca checks the chain only, verify-full also the name.
func TestSSLModesAgainstTLSServer(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	ca, cert, key := writeCA(t, base, "good", "db.example")
	otherCA, _, _ := writeCA(t, base, "other", "")
	a := startPrimary(t, base, "a")
	a.appendConf("ssl = on\nssl_cert_file = '" + cert + "'\nssl_key_file = '" + key + "'\n")
	a.pgctl("-m", "fast", "-w", "-l", a.dir+".log", "restart")

	tests := []struct {
		mode, rootCert string
		wantErr        string // "" = connects with TLS
	}{
		{"disable", "", ""},
		{"require", "", ""},
		{"verify-ca", ca, ""},
		{"verify-ca", otherCA, "certificate"},
		{"verify-full", ca, "127.0.0.1"}, // certificate is for db.example, we dial 127.0.0.1
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+filepath.Base(tt.rootCert), func(t *testing.T) {
			d := a.newDB(func(c *Config) { c.SSLMode, c.SSLRootCert = tt.mode, tt.rootCert })
			var ssl bool
			err := d.queryRow(context.Background(), "ssl in use", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", nil, &ssl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.mode != "disable"; ssl != want {
				t.Errorf("ssl = %v, want %v", ssl, want)
			}
		})
	}
}

// jdbc.properties sslcert and sslkey reach the connection: against a
// server that lets clients in over TLS only with a certificate its CA
// signed (pg_hba "cert"), the agent's connection succeeds with them and is
// refused without them.
func TestSSLClientCertificate(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	ca := newTestCA(t, base, "mtls")
	srvCert, srvKey := ca.issue(t, base, "mtls-server", "db.example", x509.ExtKeyUsageServerAuth)
	chownPostgres(t, srvCert)
	chownPostgres(t, srvKey)
	// cert authentication maps the certificate's CN to the role.
	cliCert, cliKey := ca.issue(t, base, "mtls-client", "postgres", x509.ExtKeyUsageClientAuth)
	otherCert, otherKey := newTestCA(t, base, "rogue").issue(t, base, "rogue-client", "postgres", x509.ExtKeyUsageClientAuth)

	a := startPrimary(t, base, "a")
	a.appendConf("ssl = on\nssl_cert_file = '" + srvCert + "'\nssl_key_file = '" + srvKey + "'\nssl_ca_file = '" + ca.file + "'\n")
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 cert\n"
	if err := os.WriteFile(filepath.Join(a.dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	a.pgctl("-m", "fast", "-w", "-l", a.dir+".log", "restart")

	tests := []struct {
		name, cert, key string
		wantErr         string // "" = connects, authenticated by the certificate
	}{
		{"with the client certificate", cliCert, cliKey, ""},
		{"without one", "", "", "certificate"},
		{"signed by another CA", otherCert, otherKey, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := a.newDB(func(c *Config) {
				c.SSLMode, c.SSLRootCert, c.SSLCert, c.SSLKey = "verify-ca", ca.file, tt.cert, tt.key
			})
			var dn string
			err := d.queryRow(context.Background(), "client certificate", "SELECT coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()", nil, &dn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a refusal mentioning %q", err, tt.wantErr)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dn, "CN=postgres") {
				t.Errorf("client_dn = %q, want the client certificate's CN=postgres", dn)
			}
		})
	}
}
