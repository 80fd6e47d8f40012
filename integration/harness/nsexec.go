package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread switched into the network namespace at
// nsPath. Sockets created and processes forked by fn live in that namespace;
// other goroutines are untouched. Since Go 1.10 the runtime starts new threads
// from a clean template thread while a goroutine is locked, so the namespace
// does not leak into other threads. If the thread cannot be switched back it
// stays locked and the runtime discards it when fn's goroutine ends.
func inNetns(nsPath string, fn func() error) error {
	return inNamespaces([]nsEntry{{nsPath, unix.CLONE_NEWNET, "net"}}, fn)
}

// inHost is inNetns for everything a host runs: processes forked by fn get
// h's network namespace and h's System V IPC namespace, as on a machine of
// its own. PostgreSQL keeps a small System V segment per server that a
// killed postmaster leaves behind; in the host's own IPC namespace those go
// when the network is torn down, instead of piling up in the machine's
// until shmget fails with ENOSPC (SHMMNI, 4096 by default; a CI run died of
// it).
func inHost(h *Host, fn func() error) error {
	return inNamespaces([]nsEntry{{nsPath(h.NS), unix.CLONE_NEWNET, "net"}, {ipcPath(h.NS), unix.CLONE_NEWIPC, "ipc"}}, fn)
}

type nsEntry struct {
	path string
	kind int    // CLONE_NEWNET, CLONE_NEWIPC
	name string // for /proc/self/task/<tid>/ns/<name> and errors
}

// inNamespaces runs fn on a locked OS thread switched into every namespace
// of nss, and switches the thread back after.
func inNamespaces(nss []nsEntry, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var back []func() error
		restore := func() {
			ok := true
			for i := len(back) - 1; i >= 0; i-- {
				if back[i]() != nil {
					ok = false
				}
			}
			if ok {
				runtime.UnlockOSThread()
			}
		}
		for _, ns := range nss {
			orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/%s", unix.Gettid(), ns.name))
			if err != nil {
				restore()
				errc <- fmt.Errorf("opening current %s namespace: %w", ns.name, err)
				return
			}
			defer orig.Close()
			target, err := os.Open(ns.path)
			if err != nil {
				restore()
				errc <- fmt.Errorf("opening %s namespace %s: %w", ns.name, ns.path, err)
				return
			}
			err = unix.Setns(int(target.Fd()), ns.kind)
			target.Close()
			if err != nil {
				restore()
				errc <- fmt.Errorf("entering %s namespace %s: %w", ns.name, ns.path, err)
				return
			}
			kind := ns.kind
			back = append(back, func() error { return unix.Setns(int(orig.Fd()), kind) })
		}
		ferr := fn()
		restore()
		errc <- ferr
	}()
	return <-errc
}

// run runs one command in the root namespace with a deadline and returns its
// combined output; the error names the command and carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// netnsUsable checks that a namespace can be created, entered and deleted.
func netnsUsable() error {
	name := fmt.Sprintf("%s%d-check", namePrefix, os.Getpid())
	ctx := context.Background()
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	defer run(ctx, "ip", "netns", "del", name) //nolint:errcheck // best effort
	return inNetns(nsPath(name), func() error {
		_, err := net.Interfaces()
		return err
	})
}

func nsPath(name string) string { return "/run/netns/" + name }

// ipcDir holds the bind mounts that keep hosts' IPC namespaces alive while
// no process runs in them (as /run/netns does for `ip netns`).
const ipcDir = "/run/efmi-ipc"

func ipcPath(name string) string { return filepath.Join(ipcDir, name) }

// createIPC makes a persistent IPC namespace for host namespace name.
func createIPC(ctx context.Context, name string) error {
	if err := os.MkdirAll(ipcDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", ipcDir, err)
	}
	p := ipcPath(name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating IPC namespace file %s: %w", p, err)
	}
	f.Close()
	if _, err := run(ctx, "unshare", "--ipc="+p, "true"); err != nil {
		os.Remove(p)
		return fmt.Errorf("creating the IPC namespace of %s: %w", name, err)
	}
	return nil
}

// deleteIPC unmounts name's IPC namespace, which the kernel frees with
// every segment, semaphore and queue in it once its last process is gone.
// A missing one is not an error.
func deleteIPC(name string) error {
	p := ipcPath(name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting IPC namespace %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}
