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

// writeCA makes a CA and, when serverDNS is set, a server certificate
// signed by it for that name only (no IP address), as PEM files in dir.
func writeCA(t *testing.T, dir, prefix, serverDNS string) (caFile, certFile, keyFile string) {
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
	caFile = filepath.Join(dir, prefix+"-ca.crt")
	writePEM(t, caFile, "CERTIFICATE", caDER, 0o644)
	if serverDNS == "" {
		return caFile, "", ""
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: serverDNS}, DNSNames: []string{serverDNS},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, prefix+"-server.crt"), filepath.Join(dir, prefix+"-server.key")
	writePEM(t, certFile, "CERTIFICATE", srvDER, 0o644)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER, 0o600)
	chownPostgres(t, certFile)
	chownPostgres(t, keyFile)
	return caFile, certFile, keyFile
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
