package pg

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
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

// RunPasswordScript runs script.db.password: the script's trimmed standard
// output is the password. It runs as the agent's own user, with timeout on
// top of ctx; a non-zero exit or empty output is an error naming the script.
// When encrypted (script.db.password.encrypted=true) the output is an
// EncryptPassword token for cluster.
func RunPasswordScript(ctx context.Context, script string, timeout time.Duration, encrypted bool, cluster string) (string, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// On timeout kill the script's whole process group, so a child it forked
	// (holding our pipes) dies with it; WaitDelay is the backstop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("script.db.password %s: no answer within %s: %w", script, timeout, ctx.Err())
	}
	if err != nil {
		return "", fmt.Errorf("script.db.password %s: %w (stderr: %q)", script, err, strings.TrimSpace(stderr.String()))
	}
	out := strings.TrimSpace(stdout.String())
	if out == "" {
		return "", fmt.Errorf("script.db.password %s: printed no password", script)
	}
	if encrypted {
		p, err := DecryptPassword(cluster, out)
		if err != nil {
			return "", fmt.Errorf("script.db.password %s: %w", script, err)
		}
		return p, nil
	}
	return out, nil
}

// ScriptPasswordFunc adapts RunPasswordScript to Config.PasswordFunc.
func ScriptPasswordFunc(script string, timeout time.Duration, encrypted bool, cluster string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		return RunPasswordScript(ctx, script, timeout, encrypted, cluster)
	}
}
