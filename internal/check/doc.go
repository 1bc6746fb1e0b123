// Package check is `connector check`: it checks what `connector run` needs
// with the same configuration — the tenants' API keys (read, bulk
// enrichment and, with write-back, write), the brokers, the topics a run
// writes, the compacted offsets and slots topics, and the ACLs of the
// group and of each tenant's transactional id — and prints one line per
// check, each failure with its reason and its fix. Its probes change
// nothing, so it may run beside a live connector.
//
// APIKey is the same first get_incidents call, made by `connector run`
// before it starts anything.
package check
