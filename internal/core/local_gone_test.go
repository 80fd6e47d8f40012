package core

import (
	"testing"
	"time"
)

// TestLocalMonitorCertainlyGone: checks that find the server certainly gone
// (LocalDBProbe.Gone) go to the other agents after GoneChecks of them in a
// row, without waiting out local.timeout and the last attempt; anything
// less certain, or a server that comes back in between (a pg_ctl restart),
// keeps EFM's chain.
func TestLocalMonitorCertainlyGone(t *testing.T) {
	const s = time.Second
	up := LocalDBProbe{Reachable: true, CurrentLSN: 5}
	gone := LocalDBProbe{Err: "connection refused", Gone: true}
	refused := LocalDBProbe{Err: "connection refused"}
	starting := LocalDBProbe{Err: "FATAL: the database system is starting up (SQLSTATE 57P03)"}
	// The checks after the fault, in order (one local.period apart); the
	// last one repeats.
	cases := []struct {
		name   string
		checks []LocalDBProbe
		// askBy: the other agents are asked within this time of the
		// fault; 0 = never (within the run).
		askBy, notBefore time.Duration
		lastAttempt      bool
	}{
		// Three checks, each a period (1 s) after the previous one from
		// a last success up to a period before the fault.
		{"postmaster gone", []LocalDBProbe{gone}, 3*s + 100*time.Millisecond, 2 * s, false},
		// No answer: local.timeout (10 s here, from the last success up to a
		// period before the fault) and the last attempt (answered
		// at once here), as EFM.
		{"refused, postmaster not known gone", []LocalDBProbe{refused}, 10*s + 200*time.Millisecond, 9 * s, true},
		{"gone twice then starting up", []LocalDBProbe{gone, gone, starting, gone, gone, starting}, 10*s + 200*time.Millisecond, 9 * s, true},
		// A restart: gone once or twice, then the server is back.
		{"restart", []LocalDBProbe{gone, gone, up}, 0, 0, false},
		{"restart through starting up", []LocalDBProbe{gone, starting, starting, up}, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, up, members(MemberAlive, MemberAlive, MemberAlive)...)
			h.n.p.LocalTimeout = 10 * s
			h.n.p.LocalTimeoutFinal = 1500 * time.Millisecond // told apart from local.period
			i := 0                                            // scripted checks answered
			var final, faulted bool
			// step feeds ev and everything it causes: renewals are
			// acknowledged by both voters, checks answered up (before the
			// fault) or by the script.
			var step func(ev Event)
			step = func(ev Event) {
				acts := h.n.Step(h.now, ev)
				h.acts = append(h.acts, acts...)
				for _, a := range acts {
					switch a := a.(type) {
					case ProbeLocalDB:
						r := up
						if faulted {
							if a.Timeout == h.n.p.LocalTimeoutFinal {
								final = true
							}
							r = c.checks[min(i, len(c.checks)-1)]
							i++
						}
						r.Seq = a.Seq
						step(r)
					case Send:
						if a.Msg.Type == MsgHeartbeat && a.Msg.Round > 0 {
							step(MessageReceived{From: a.To, Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: a.Msg.Epoch, Round: a.Msg.Round, OK: true}})
						}
					}
				}
			}
			tick := func() int {
				start := len(h.acts)
				h.now += 50 * time.Millisecond
				step(Tick{})
				return start
			}
			for range 40 { // a few good checks, renewals acknowledged
				tick()
			}
			fault := h.now
			faulted = true
			var askedAt time.Duration
			for h.now-fault < 15*s && askedAt == 0 {
				start := tick()
				if len(sent(h.acts[start:], MsgCheckReq)) > 0 {
					askedAt = h.now - fault
				}
			}
			switch {
			case c.askBy == 0 && askedAt != 0:
				t.Fatalf("asked the other agents %v after the fault, want never (checks %d)", askedAt, i)
			case c.askBy == 0:
				return
			case askedAt == 0:
				t.Fatalf("never asked the other agents (checks %d); role %s, notes %v", i, h.n.Role(), notes(h.acts))
			case askedAt > c.askBy || askedAt < c.notBefore:
				t.Errorf("asked the other agents %v after the fault, want between %v and %v", askedAt, c.notBefore, c.askBy)
			}
			if final != c.lastAttempt {
				t.Errorf("last attempt (local.timeout.final) made: %v, want %v", final, c.lastAttempt)
			}
		})
	}
}
