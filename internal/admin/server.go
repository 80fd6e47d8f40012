package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Handler answers one request. The returned value is marshalled as the
// response data; a returned error becomes the response's error text, which
// the CLI prints as "Received error from local agent: ...".
type Handler interface {
	Handle(ctx context.Context, req Request) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req Request) (any, error) { return f(ctx, req) }

// requestTimeout bounds how long one connection may take end to end. Admin
// commands that start long work (promote) return once the work is accepted.
const requestTimeout = 30 * time.Second

// Server serves admin requests on a Unix socket.
type Server struct {
	path string
	ln   net.Listener
	h    Handler
	log  *slog.Logger
	wg   sync.WaitGroup
}

// Listen creates the socket at path with mode 0660. A leftover socket file
// from an agent that died is removed first: the caller holds the cluster
// lock, so no live agent can own it.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale admin socket %s: %w", path, err)
	}
	// The umask makes the socket 0660 from its creation, so there is no
	// window in which another user could connect.
	old := umask(0o117)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode of admin socket %s: %w", path, err)
	}
	return &Server{path: path, ln: ln, h: h, log: log}, nil
}

// Path is the socket's file name.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until ctx is done or Close is called.
func (s *Server) Serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// Close stops accepting, waits for requests in flight and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	os.Remove(s.path)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c.SetDeadline(time.Now().Add(requestTimeout))
	resp := Response{V: ProtocolVersion}
	data, err := s.answer(ctx, bufio.NewReader(c))
	if err != nil {
		resp.Error = err.Error()
	} else {
		resp.OK, resp.Data = true, data
	}
	out, _ := json.Marshal(resp)
	c.Write(append(out, '\n'))
}

// answer reads one request, decodes it (version, verb, typed fields,
// Validate) and hands it to the handler.
func (s *Server) answer(ctx context.Context, r *bufio.Reader) (json.RawMessage, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading request: %w", err)
	}
	req, err := DecodeRequest(line)
	if err != nil {
		return nil, err
	}
	s.log.Debug("admin request", "command", req.Command(), "request", req)
	data, err := s.h.Handle(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding response: %w", err)
	}
	return raw, nil
}
