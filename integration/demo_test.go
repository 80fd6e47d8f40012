package integration

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// TestReadmeDemo runs the README's first command, `make demo`, exactly as a
// new user does: in a fresh copy of the tree (no bin/, no build cache of
// ours, no .git), from a working directory that is not the project's. It
// once failed at its first step (a relative binary path started from a
// host's directory); this keeps that from coming back unnoticed.
//
// The copy holds what `git ls-files` lists plus untracked files that are not
// ignored: on CI's clean checkout that is exactly a clone; during
// development it is the working tree as it would be committed.
func TestReadmeDemo(t *testing.T) {
	requireHarness(t)
	if testing.Short() {
		t.Skip("make demo takes about half a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to run the README's commands: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "openefm")
	if err := copyTree(ctx, root, clone); err != nil {
		t.Skipf("SKIPPING: cannot copy the tree as a clone would have it (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(clone, "bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the copy has a bin/ directory: it is not fresh (%v)", err)
	}

	// From another directory, as "make -C" or a user's shell in $HOME would.
	elsewhere := t.TempDir()
	cmd := exec.CommandContext(ctx, "make", "-C", clone, "demo")
	cmd.Dir = elsewhere
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("make demo took %v; its output:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("make demo in a fresh copy failed: %v", err)
	}
	for _, want := range []string{"FAULT: kill -9", "the VIP is now on", "FAILOVER COMPLETED:", "done; everything was removed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo did not print %q", want)
		}
	}
}

// copyTree copies the files git would put in a clone of root (tracked, plus
// untracked and not ignored) into dst, keeping their modes.
func copyTree(ctx context.Context, root, dst string) error {
	ls := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	out, err := ls.Output()
	if err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		src := filepath.Join(root, name)
		st, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree, not yet committed
		}
		if err != nil {
			return err
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(src, to, st.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
