package hooks

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names a hook by the property that configures it.
type Kind string

// The hooks of efm-reference §1.10, plus the two command properties that take
// placeholders without being scripts (restore.command, sudo.user.command).
const (
	Fence               Kind = "script.fence"
	PostPromotion       Kind = "script.post.promotion"
	RemotePrePromotion  Kind = "script.remote.pre.promotion"
	RemotePostPromotion Kind = "script.remote.post.promotion"
	Resumed             Kind = "script.resumed"
	DBFailure           Kind = "script.db.failure"
	PrimaryIsolated     Kind = "script.primary.isolated"
	LoadBalancerAttach  Kind = "script.load.balancer.attach"
	LoadBalancerDetach  Kind = "script.load.balancer.detach"
	CustomMonitor       Kind = "script.custom.monitor"
	Notification        Kind = "script.notification"
	DBPassword          Kind = "script.db.password"

	RestoreCommand  Kind = "restore.command"
	SudoUserCommand Kind = "sudo.user.command"
)

// Kinds lists every script property, in efm-reference order.
var Kinds = []Kind{
	Fence, PostPromotion, RemotePrePromotion, RemotePostPromotion, Resumed,
	DBFailure, PrimaryIsolated, LoadBalancerAttach, LoadBalancerDetach,
	CustomMonitor, Notification, DBPassword,
}

// Event is the EFM_EVENT name of the hook: the property without "script."
// and with dashes ("script.post.promotion" -> "post-promotion").
func (k Kind) Event() string {
	return strings.ReplaceAll(strings.TrimPrefix(string(k), "script."), ".", "-")
}

// Vars is what one run of a hook is about. Only the fields that matter for the
// hook need be set; the rest become empty EFM_* variables.
type Vars struct {
	NewPrimary    string // %p, EFM_NEW_PRIMARY (and %h of restore.command)
	FailedPrimary string // %f, EFM_OLD_PRIMARY; "" when there is none
	Target        string // %h of the load-balancer scripts, EFM_TARGET_NODE
	TargetType    string // %t of the load-balancer scripts ("p" or "s"), EFM_TARGET_TYPE
	NodeType      string // EFM_NODE_TYPE: primary, standby, witness, idle

	// Subject and Body are appended as arguments to script.notification.
	Subject string
	Body    string

	// Env adds or overrides environment variables ("EFM_NOTIFICATION_LEVEL").
	Env map[string]string
}

// placeholders says which placeholders each property takes (§1.12), and
// where their values come from. Others are left as written.
func placeholders(k Kind, v Vars, owner string) map[byte]string {
	switch k {
	case Fence, PostPromotion:
		return map[byte]string{'p': v.NewPrimary, 'f': v.FailedPrimary}
	case RemotePrePromotion, RemotePostPromotion:
		return map[byte]string{'p': v.NewPrimary}
	case LoadBalancerAttach, LoadBalancerDetach:
		return map[byte]string{'h': v.Target, 't': v.TargetType}
	case RestoreCommand:
		return map[byte]string{'h': v.NewPrimary}
	case SudoUserCommand:
		return map[byte]string{'u': owner}
	}
	return nil
}

// substitute replaces the placeholders of one word in a single pass, so a
// value that itself contains "%f" is never expanded again. "%%" and unknown
// sequences are kept as written: restore.command hands PostgreSQL its own
// %f, %p and %% untouched.
func substitute(word string, ph map[byte]string) string {
	if len(ph) == 0 || !strings.Contains(word, "%") {
		return word
	}
	var b strings.Builder
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c != '%' || i+1 == len(word) {
			b.WriteByte(c)
			continue
		}
		next := word[i+1]
		if next == '%' {
			b.WriteString("%%")
			i++
			continue
		}
		if val, ok := ph[next]; ok {
			b.WriteString(val)
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ErrEmptyCommand is returned by Split for a blank command line.
var ErrEmptyCommand = errors.New("empty command line")

// Split breaks a command line into words like a POSIX shell would for a
// simple command, without any expansion.
func Split(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(line) {
				i++
				if line[i] != '\n' { // backslash-newline joins lines, as in sh
					cur.WriteByte(line[i])
				}
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' quote at byte %d of %q", i, line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && strings.IndexByte("\"\\$`\n", line[j+1]) >= 0 {
					j++
					if line[j] != '\n' {
						cur.WriteByte(line[j])
					}
					continue
				}
				cur.WriteByte(line[j])
			}
			if j == len(line) {
				return nil, fmt.Errorf("unterminated \" quote at byte %d of %q", i, line)
			}
			i = j
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, ErrEmptyCommand
	}
	return words, nil
}

// Expand splits the command line of property k and substitutes the
// placeholders k takes in every word; script.notification also gets
// v.Subject and v.Body appended. owner is db.service.owner (%u).
func Expand(k Kind, line string, v Vars, owner string) ([]string, error) {
	words, err := Split(line)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", k, line, err)
	}
	ph := placeholders(k, v, owner)
	for i, w := range words {
		words[i] = substitute(w, ph)
	}
	if k == Notification {
		words = append(words, v.Subject, v.Body)
	}
	return words, nil
}

// ExpandString substitutes the placeholders of k in s without splitting it,
// for properties handed on as a string rather than run (restore.command goes
// into PostgreSQL's restore_command with %h set to the new primary).
func ExpandString(k Kind, s string, v Vars, owner string) string {
	return substitute(s, placeholders(k, v, owner))
}
