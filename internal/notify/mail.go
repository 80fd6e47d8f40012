package notify

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// headerSafe removes line breaks so no value can add a mail header.
func headerSafe(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// envelope returns the bare address for MAIL FROM when from.email carries a
// display name ("EFM <efm@db1>"); anything unparsable is used as written and
// the server decides.
func envelope(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

// buildMail renders an RFC 5322 message. The body is quoted-printable, so
// script output with long lines or non-ASCII bytes survives any MTA.
func buildMail(from string, to []string, subject, body string, level Level, host string, now time.Time) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", headerSafe(from))
	hdr("To", headerSafe(strings.Join(to, ", ")))
	hdr("Subject", mime.QEncoding.Encode("utf-8", headerSafe(subject)))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<%d.efm@%s>", now.UnixNano(), headerSafe(host)))
	hdr("X-EFM-Level", level.String())
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// quotedprintable encodes a bare "\n" as a hard line break only when
	// written as "\r\n"; normalise first.
	_, _ = qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// sendMail delivers msg through the SMTP server at addr, bounded by ctx.
// net/smtp.SendMail has no deadline, so dial ourselves and put the context's
// deadline on the connection. No STARTTLS or AUTH: EFM hands mail to the MTA
// on the same host, which relays it.
func sendMail(ctx context.Context, addr, helo, from string, to []string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation without a deadline still unblocks reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("HELO %s: %w", helo, err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM %s (from.email): %w", from, err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return c.Quit()
}
