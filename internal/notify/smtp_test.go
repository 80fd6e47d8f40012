package notify

import (
	"bufio"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// receivedMail is one message accepted by testSMTP.
type receivedMail struct {
	helo    string
	from    string
	rcpt    []string
	header  mail.Header
	subject string // decoded
	body    string // decoded, "\n" line ends
}

// testSMTP is a tiny SMTP server on 127.0.0.1 speaking just enough of
// RFC 5321 for net/smtp: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
type testSMTP struct {
	t    *testing.T
	ln   net.Listener
	mu   sync.Mutex
	got  []receivedMail
	wg   sync.WaitGroup
	hang bool // accept connections but never answer
}

func newTestSMTP(t *testing.T, hang bool) *testSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSMTP{t: t, ln: ln, hang: hang}
	var conns []net.Conn
	var cmu sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				if s.hang {
					_, _ = io.Copy(io.Discard, c)
					return
				}
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testSMTP) addr() string { return s.ln.Addr().String() }

func (s *testSMTP) mails() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.got...)
}

func (s *testSMTP) serve(c net.Conn) {
	r := bufio.NewReader(c)
	reply := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	reply("220 test.local ESMTP")
	var cur receivedMail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "HELO", "EHLO":
			cur = receivedMail{helo: arg}
			reply("250 test.local")
		case "MAIL":
			cur.from = addrArg(arg, "FROM:")
			reply("250 ok")
		case "RCPT":
			cur.rcpt = append(cur.rcpt, addrArg(arg, "TO:"))
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // undo dot-stuffing
			}
			if err := s.store(cur, data.String()); err != nil {
				s.t.Errorf("test SMTP: bad message: %v\n%s", err, data.String())
			}
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// addrArg extracts the address of "FROM:<a@b> BODY=8BITMIME".
func addrArg(arg, prefix string) string {
	if len(arg) >= len(prefix) && strings.EqualFold(arg[:len(prefix)], prefix) {
		arg = strings.TrimSpace(arg[len(prefix):])
	}
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		if j := strings.IndexByte(arg[i:], '>'); j >= 0 {
			return arg[i+1 : i+j]
		}
	}
	return arg
}

func (s *testSMTP) store(m receivedMail, data string) error {
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		return err
	}
	m.header = msg.Header
	dec := new(mime.WordDecoder)
	if m.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return err
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return err
	}
	m.body = strings.ReplaceAll(string(body), "\r\n", "\n")
	s.mu.Lock()
	s.got = append(s.got, m)
	s.mu.Unlock()
	return nil
}
