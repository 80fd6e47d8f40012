package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// ErrNoAgent reports that no agent answers on the cluster's socket.
var ErrNoAgent = errors.New("no agent running")

// NoAgentError names the cluster and socket when no agent answers.
type NoAgentError struct {
	Cluster, Socket string
	Err             error
}

func (e *NoAgentError) Error() string {
	return fmt.Sprintf("no agent is running for cluster %q on this node (admin socket %s: %v)", e.Cluster, e.Socket, e.Err)
}

func (e *NoAgentError) Unwrap() error { return ErrNoAgent }

// Call sends req to the agent listening at socket and waits for its answer.
func Call(ctx context.Context, cluster, socket string, req Request) (*Response, error) {
	b, err := EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout+5*time.Second)
		defer cancel()
	}
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NoAgentError{Cluster: cluster, Socket: socket, Err: unwrapSys(err)}
		}
		return nil, fmt.Errorf("connecting to the agent of cluster %q at %s: %w", cluster, socket, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(b); err != nil {
		return nil, fmt.Errorf("sending %s to the agent of cluster %q: %w", req.Command(), cluster, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the agent of cluster %q: %w", cluster, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("malformed answer from the agent of cluster %q: %w", cluster, err)
	}
	return &resp, nil
}

func unwrapSys(err error) error {
	var se syscall.Errno
	if errors.As(err, &se) {
		return se
	}
	return err
}
