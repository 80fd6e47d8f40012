package pg

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"secret", "", "with spaces and ünïcode '\"\\", strings.Repeat("x", 500)} {
		tok, err := EncryptPassword("efm", pw)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tok, pw) && pw != "" {
			t.Errorf("token %q contains the password", tok)
		}
		got, err := DecryptPassword("efm", tok)
		if err != nil || got != pw {
			t.Errorf("DecryptPassword = %q, %v; want %q", got, err, pw)
		}
	}
	a, _ := EncryptPassword("efm", "same")
	b, _ := EncryptPassword("efm", "same")
	if a == b {
		t.Error("two encryptions gave the same token: nonce not random")
	}
}

func TestPasswordWrongCluster(t *testing.T) {
	tok, err := EncryptPassword("prod", "secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecryptPassword("staging", tok)
	if err == nil || !strings.Contains(err.Error(), "another cluster") || !strings.Contains(err.Error(), "staging") {
		t.Fatalf("wrong cluster: err = %v", err)
	}
	// The last byte changed (not set to a value it may already have: a
	// token ending in 00 made this test fail once in 256 runs).
	last := "00"
	if strings.HasSuffix(tok, "00") {
		last = "01"
	}
	for _, bad := range []string{"zz", "abcd", tok[:len(tok)-2] + last} {
		if _, err := DecryptPassword("prod", bad); err == nil {
			t.Errorf("DecryptPassword(%q) succeeded", bad)
		}
	}
	if _, err := EncryptPassword("", "x"); err == nil {
		t.Error("empty cluster name accepted")
	}
}

// A value made by EDB EFM's own `efm encrypt` (32 hex characters) is
// recognised as such, with the command that makes one OpenEFM reads.
func TestPasswordEFMToken(t *testing.T) {
	_, err := DecryptPassword("prod", "  a0f2c4e6b8d0f2a4c6e8b0d2f4a6c8e0 ")
	if !errors.Is(err, ErrEFMToken) {
		t.Fatalf("EFM token: want ErrEFMToken, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "EDB Failover Manager") || !strings.Contains(msg, "efm encrypt prod") {
		t.Errorf("message must say who made it and what to run: %q", msg)
	}
	// Our own tokens are never mistaken for one.
	tok, err := EncryptPassword("prod", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptPassword("prod", tok); err != nil {
		t.Errorf("our token for an empty password: %v", err)
	}
}
