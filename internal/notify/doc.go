// Package notify sends EFM notifications: by mail to user.email through the
// local SMTP server and by running script.notification "<subject>" "<body>".
//
// Notifications are separate from logs, but every one is also logged (at
// slog Info, Warn or Error for INFO, WARNING or SEVERE), whatever
// notification.level says and even in quiet mode; the level only filters
// delivery, as in EFM.
//
// Callers name the event with a Subject from the catalogue (package
// subject, which the failover core uses too), carrying EFM's wording and
// level, e.g.
//
//	n.Send(ctx, notify.Message{Subject: subject.FailoverCompleted, Text: "..."})
//
// The subject
// line is "[LEVEL] EFM <subject>"; the body is
//
//	<notification.text.prefix, if set>
//	EFM node: <address>
//	Cluster name: <cluster>
//	Database name: <db.database>
//	VIP: <virtual.ip> (Active|Inactive)     or "VIP support: DISABLED"
//
//	<event text>
//
//	Script: <argv>          for each script result
//	Results:
//	exit status: <N>
//	<output>
//
// Delivery never panics and never blocks longer than Config.Timeout: Send is
// synchronous with that deadline, Post queues and returns at once. A failed
// delivery is logged and returned; it never stops the failover that caused
// it.
package notify
