// Package chaos runs seeded fault schedules against real clusters built by
// the integration harness, and checks what clients saw.
//
// A schedule (NewSchedule) is drawn from one seed: random faults with
// random durations, some overlapping (kill -9 of a postmaster, an agent or
// a whole host; SIGSTOP of an agent shorter and longer than its lease; a
// link cut; one-way and random packet loss with iptables; the witness
// down; an agent restarted; `efm promote -switchover` mid-fault), on
// primary + 2 standbys + witness or primary + 1 standby + witness. Run
// plays it against a fresh cluster with two clients committing (through
// the VIP, and through a multi-host connection string with
// target_session_attrs=read-write) and a probe in every database, heals
// everything, waits for the cluster to settle and checks that no
// acknowledged commit is missing on the final primary, that two databases
// never accepted writes at overlapping times, and that the commit history
// is linearizable (porcupine). docs/chaos.md says how to run and replay.
package chaos
