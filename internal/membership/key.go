package membership

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/openefm/efm/internal/atomicfile"
)

// KeySize is the size of a generated cluster key: AES-256-GCM.
const KeySize = 32

// GenerateKey returns a new random 32-byte cluster key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generating cluster key: %w", err)
	}
	return k, nil
}

func checkKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	case 0:
		return fmt.Errorf("encryption is on but no cluster key was given")
	}
	return fmt.Errorf("cluster key is %d bytes: want 32 (or 16/24) bytes", len(k))
}

// WriteKeyFile stores key base64-encoded in path, readable only by its
// owner (0600), replacing the file atomically.
func WriteKeyFile(path string, key []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if err := atomicfile.Write(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	return nil
}

// ReadKeyFile reads a key written by WriteKeyFile. It refuses a file that
// its group or others may read: a leaked key lets anyone join the cluster.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: it must be readable only by its owner (chmod 600 %s)", path, perm, path)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return nil, fmt.Errorf("key file %s: not base64: %w", path, err)
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
