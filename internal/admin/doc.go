// Package admin is the local control channel between the efm command and
// the agent of one cluster on the same node.
//
// The agent listens on a Unix socket, <pid.dir>/<cluster>.sock, created with
// mode 0660 so that only the agent's user and group can connect: this
// replaces EDB EFM's admin.port TCP listener and its authorization file,
// and needs no port. Each connection carries one request and one response,
// both JSON documents terminated by a newline, so the protocol can be
// driven by hand with socat when debugging. Requests are typed
// (protocol.go): the agent reads every one through DecodeRequest, which
// checks the version, the verb, the fields and their values, whoever sent
// it.
package admin
