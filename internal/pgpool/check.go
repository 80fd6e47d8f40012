package pgpool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/openefm/efm/internal/hooks"
)

// CheckPassFile requires the PCP password file to be a regular file
// readable by this user and closed to group and others. The PCP programs
// ignore a password file with group or world access, as libpq does, and
// then fail to authenticate with no word about the file; this says why.
func CheckPassFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("PCP password file %s: %w", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("PCP password file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("PCP password file %s has mode %04o, open to group or others, and the PCP commands ignore it; accepted: 0600 (chmod 600 %s)", path, perm, path)
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		return fmt.Errorf("PCP password file %s is not readable by this user: %w", path, err)
	}
	return nil
}

// CheckPrograms requires every program in Programs to be an executable
// file in bin, or in PATH when bin is "".
func CheckPrograms(bin string) error {
	var errs []string
	for _, name := range Programs {
		if bin == "" {
			if _, err := exec.LookPath(name); err != nil {
				errs = append(errs, name+" is not in PATH")
			}
			continue
		}
		if err := hooks.CheckExecutable(filepath.Join(bin, name)); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		where := "directory " + bin
		if bin == "" {
			where = "PATH (pgpool.bin unset)"
		}
		return fmt.Errorf("the PCP programs are not all in %s: %s; accepted: the directory of Pgpool-II's pcp_* programs (/usr/sbin with Debian's pgpool2)", where, strings.Join(errs, "; "))
	}
	return nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
