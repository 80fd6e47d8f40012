package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/pg"
)

// tokenOf returns the db.password.encrypted value efm encrypt printed.
func tokenOf(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(l, "db.password.encrypted="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no db.password.encrypted line in %q", out)
	return ""
}

// EFM's efm encrypt asks twice; a script pipes both lines
// (printf 'pw\npw\n' | efm encrypt c).
func TestEncryptFromPipe(t *testing.T) {
	tests := []struct {
		name    string
		stdin   string
		want    string // decrypted password; "" means refused
		wantErr string
	}{
		{"two lines", "s3cret\ns3cret\n", "s3cret", ""},
		{"no final newline", "s3cret\ns3cret", "s3cret", ""},
		{"CRLF line ends", "s3cret\r\ns3cret\r\n", "s3cret", ""},
		{"mismatch", "s3cret\nsecret\n", "", "the passwords do not match"},
		{"only one line", "s3cret\n", "", "reading the password a second time: standard input ended"},
		{"nothing", "", "", "reading the password: standard input ended"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"encrypt", "c", "-config-dir", t.TempDir()}, strings.NewReader(tc.stdin), &out, &errOut)
			if tc.wantErr != "" {
				if code != 1 || !strings.Contains(errOut.String(), tc.wantErr) || strings.Contains(out.String(), "db.password.encrypted") {
					t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, no token and %q", code, out.String(), errOut.String(), tc.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			if pw, err := pg.DecryptPassword("c", tokenOf(t, out.String())); err != nil || pw != tc.want {
				t.Errorf("the token decrypts to %q (err %v), want %q", pw, err, tc.want)
			}
			if strings.Contains(out.String()+errOut.String(), tc.want+"\n") {
				t.Errorf("the password is echoed:\n%s%s", out.String(), errOut.String())
			}
		})
	}
}

// The built binary, its standard input a real pipe, as a shell script runs it.
func TestEncryptBinaryFromPipe(t *testing.T) {
	cmd := exec.Command(efmBin, "encrypt", "c", "-config-dir", t.TempDir())
	cmd.Stdin = strings.NewReader("pw\npw\n")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("printf 'pw\\npw\\n' | efm encrypt c: %v\n%s", err, errOut.String())
	}
	if pw, err := pg.DecryptPassword("c", tokenOf(t, out.String())); err != nil || pw != "pw" {
		t.Errorf("the token decrypts to %q (err %v), want %q", pw, err, "pw")
	}
}
