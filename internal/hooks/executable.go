package hooks

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CheckExecutable requires path to be a regular file this user may
// execute. The error starts with the path and says what to do about it;
// a missing file reads "<path>: no such file or directory", without the
// *PathError's "stat" and second copy of the path.
func CheckExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case unix.Access(path, unix.X_OK) != nil:
		return fmt.Errorf("%s is not executable (mode %v): chmod +x it", path, fi.Mode().Perm())
	}
	return nil
}
