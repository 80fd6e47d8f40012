// Package atomicfile replaces a file so that a crash at any moment leaves
// either the old content or the new, never a mix: the agent's persisted
// vote, the cluster key and the .nodes file all depend on it.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data and mode perm: a temporary file in the same
// directory is written, fsynced and renamed over path, then the directory
// is fsynced so the rename itself survives a crash.
func Write(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
