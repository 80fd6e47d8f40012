package pg

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// passwordKeyContext separates our key derivation from any other use of a
// SHA-256 of the cluster name.
const passwordKeyContext = "openefm db.password.encrypted v1\x00"

// passwordKey derives the AES-256 key from the cluster name, as EFM mixes
// the cluster name into its key. Anyone with the cluster name (which is in
// the file name) can derive it: this is obfuscation against shoulder-surfing
// and accidental pastes, not secrecy. Protect the properties file with
// file permissions, or use script.db.password with a real secret store.
func passwordKey(cluster string) []byte {
	k := sha256.Sum256([]byte(passwordKeyContext + cluster))
	return k[:]
}

// EncryptPassword produces the db.password.encrypted value for cluster, as
// `efm encrypt <cluster>` prints it: hex of nonce||AES-GCM(password), with
// the cluster name as additional data. Obfuscation only; see passwordKey.
func EncryptPassword(cluster, password string) (string, error) {
	if cluster == "" {
		return "", errors.New("encrypt password: cluster name is empty")
	}
	aead, err := passwordAEAD(cluster)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("encrypt password: %w", err)
	}
	return hex.EncodeToString(aead.Seal(nonce, nonce, []byte(password), []byte(cluster))), nil
}

// ErrEFMToken is a db.password.encrypted value made by EDB Failover
// Manager's own `efm encrypt`: 32 hex characters, a format OpenEFM does not
// read. Ours is at least 56 (nonce and tag), so the two never overlap.
var ErrEFMToken = errors.New("made by EDB Failover Manager's `efm encrypt`, a format OpenEFM does not read")

// efmTokenLen is the length of what EDB EFM's `efm encrypt` prints.
const efmTokenLen = 32

// DecryptPassword reverses EncryptPassword. A token made for another
// cluster name fails authentication and says so; one made by EDB EFM is
// recognised (ErrEFMToken).
func DecryptPassword(cluster, token string) (string, error) {
	token = strings.TrimSpace(token)
	raw, err := hex.DecodeString(token)
	if err == nil && len(token) == efmTokenLen {
		return "", fmt.Errorf("db.password.encrypted for cluster %q: %w; run `efm encrypt %s` here and use its output", cluster, ErrEFMToken, cluster)
	}
	if err != nil {
		return "", fmt.Errorf("decrypt db.password.encrypted for cluster %q: not the hex string `efm encrypt` prints: %w", cluster, err)
	}
	aead, err := passwordAEAD(cluster)
	if err != nil {
		return "", err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("decrypt db.password.encrypted for cluster %q: token too short (%d bytes)", cluster, len(raw))
	}
	nonce, sealed := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(cluster))
	if err != nil {
		return "", fmt.Errorf("decrypt db.password.encrypted for cluster %q: token was made for another cluster name or is corrupt; run `efm encrypt %s` again", cluster, cluster)
	}
	return string(plain), nil
}

func passwordAEAD(cluster string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(passwordKey(cluster))
	if err != nil {
		return nil, fmt.Errorf("password cipher: %w", err)
	}
	return cipher.NewGCM(block)
}
