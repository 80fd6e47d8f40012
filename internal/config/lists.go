package config

// notBuilt names the keys of features OpenEFM does not implement yet. They
// are accepted, so an EFM 5.x file loads unchanged, and named in one startup
// warning. Delete a name here when its feature lands.
var notBuilt = map[string]bool{
	// Backing up pg_wal before reconfiguring.
	"backup.wal": true,
	// Syslog sink.
	"syslog.enabled": true, "syslog.host": true, "syslog.port": true,
	"syslog.protocol": true, "syslog.facility": true,
	// Retrying a failed script.db.password on its own timer: the script runs
	// again at the next connection attempt instead.
	"script.db.password.retry": true,
	// Per-node VIPs (virtual.ip.single=false): the one VIP follows the primary.
	"virtual.ip.single": true,
	// Releasing the VIP in the background: a fencing primary always waits for
	// the VIP to be gone, because the lease argument needs the release done
	// before the lease ends (docs/configuration.md).
	"release.vip.background": true,
}

// legacy maps names EFM used before 5.x (and one OpenEFM never had) to what
// replaced them. They are refused, not mapped: a silently reinterpreted
// setting in a failover manager is worse than a refusal with the fix.
var legacy = map[string]string{
	// EFM 4.0 renamed "master" to "primary".
	"stop.isolated.master":       "renamed in EFM 4.0; use stop.isolated.primary",
	"stop.failed.master":         "renamed in EFM 4.0; use stop.failed.primary",
	"master.shutdown.as.failure": "renamed in EFM 4.0; use primary.shutdown.as.failure",
	"reconfigure.sync.master":    "renamed in EFM 4.0; use reconfigure.sync.primary",
	"script.master.isolated":     "renamed in EFM 4.0; use script.primary.isolated",
	// EFM 5.0 split auto.resume.period.
	"auto.resume.period": "split in EFM 5.0; use auto.resume.startup.period (and auto.resume.failure.period)",
	// EFM 2.x names.
	"pingServerIp":         "an EFM 2.x name; use ping.server.ip",
	"pingServerCommand":    "an EFM 2.x name; use ping.server.command",
	"virtualIp":            "an EFM 2.x name; use virtual.ip",
	"virtualIp.interface":  "an EFM 2.x name; use virtual.ip.interface",
	"virtualIp.netmask":    "an EFM 2.x name; use virtual.ip.prefix (a prefix length such as 24, not a netmask)",
	"virtualIp.prefix":     "an EFM 2.x name; use virtual.ip.prefix",
	"virtualIp.single":     "an EFM 2.x name; use virtual.ip.single",
	"db.recovery.conf.dir": "an EFM 2.x name; use db.data.dir (standby.signal is checked there)",
	"jgroups.max.tries":    "an EFM 2.x setting, removed; node.timeout bounds peer failure detection",
	"jgroups.timeout":      "an EFM 2.x setting, removed; node.timeout bounds peer failure detection",
}
