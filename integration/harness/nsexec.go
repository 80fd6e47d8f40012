package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
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
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- fmt.Errorf("opening current network namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening network namespace %s: %w", nsPath, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
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
