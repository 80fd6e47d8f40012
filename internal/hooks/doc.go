// Package hooks runs the user scripts of an EFM cluster (the script.*
// properties: fence, post.promotion, remote.pre.promotion,
// remote.post.promotion, resumed, db.failure, primary.isolated,
// load.balancer.attach/detach, custom.monitor, notification, db.password).
//
// # Command lines
//
// A script property holds a command line: a path, optionally followed by
// arguments. It is split the way a shell splits a simple command (blanks
// separate words; '...' is literal; "..." honours \" \\ \$ \` escapes; a
// backslash outside quotes escapes the next character) but no shell ever runs:
// no variables, globbing, pipes or redirections. EFM's placeholders are then
// substituted inside each word separately, so a placeholder value can never
// add a word or inject shell syntax: `/fence.sh %f` gets exactly one argument,
// even when %f is empty or contains "; rm -rf /".
//
// Placeholders are substituted only in the properties where EFM documents them
// (efm-reference §1.12); elsewhere they are left as written:
//
//	%p  new primary address       script.fence, script.post.promotion,
//	                              script.remote.pre.promotion, script.remote.post.promotion
//	%f  failed primary address    script.fence, script.post.promotion ("" when none)
//	%h  node attached/detached    script.load.balancer.attach/detach
//	%h  new primary address       restore.command (see ExpandString; PostgreSQL's own %f %p %% pass through)
//	%t  p (primary) / s (standby) script.load.balancer.attach/detach
//	%u  db.service.owner          sudo.user.command
//
// script.notification gets the subject and the body appended as two more
// arguments, as EFM calls `<script> "<subject>" "<body>"`.
//
// # Environment
//
// Besides the placeholders, and like serf's SERF_* variables, every hook gets
// the context of the event in EFM_* environment variables. All of them are
// always set (possibly empty) so `set -u` scripts can use them, and any EFM_*
// variable inherited by the agent is removed first:
//
//	EFM_EVENT          event name: fence, post-promotion, remote-pre-promotion,
//	                   remote-post-promotion, resumed, db-failure, primary-isolated,
//	                   load-balancer-attach, load-balancer-detach, custom-monitor,
//	                   notification, db-password
//	EFM_SCRIPT         the property that configured the hook (script.fence, ...)
//	EFM_CLUSTER        cluster name
//	EFM_NODE           address (bind IP) of this node, the one running the hook
//	EFM_NODE_TYPE      role of this node: primary, standby, witness or idle
//	EFM_NEW_PRIMARY    address of the new primary (%p), when there is one
//	EFM_OLD_PRIMARY    address of the failed/old primary (%f), when there is one
//	EFM_TARGET_NODE    node being attached/detached (%h of load-balancer scripts)
//	EFM_TARGET_TYPE    p or s (%t of load-balancer scripts)
//	EFM_VIP            virtual.ip, empty when VIP handling is off
//	EFM_DB_SERVICE_OWNER  db.service.owner
//	EFM_NOTIFICATION_SUBJECT, EFM_NOTIFICATION_LEVEL
//	                   for script.notification: the full subject line and its
//	                   level (INFO, WARNING, SEVERE)
//
// # Running
//
// Every run has a deadline (Runner.Timeout unless the context's is earlier);
// the script runs in its own process group, and on timeout the whole group is
// killed so that a `sleep` started by the script dies too. Stdout and stderr
// are captured together, bounded to Runner.MaxOutput bytes, logged, and
// returned in a Result the caller puts into the notification. A run still
// going after Runner.SlowThreshold is warned about while it runs. Result.OK
// says whether the hook succeeded; for script.fence a false OK must abort the
// promotion.
//
// script.db.password prints a secret on stdout: for it stdout is returned in
// Result.Secret, never logged, and Result.Output holds stderr only.
//
// Monitor runs script.custom.monitor every custom.monitor.interval with
// custom.monitor.timeout and custom.monitor.safe.mode semantics.
package hooks
