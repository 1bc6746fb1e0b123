// Package embedded is what lets the connector run on one machine without a
// Kafka cluster or a real tenant: the embedded broker (kfake) persisted in
// DATA_DIR, the DATA_DIR lock and broker.addr that tell a running connector
// from the data it left, the simulated demo tenant kept in DATA_DIR, the
// fleet of simulated tenants of `connector simulate --tenants` and the
// tenants file written for it, and a process's default member id in the
// connector's group (one per DATA_DIR slot on a host).
//
// The binary (cmd/connector) parses the flags and prints; everything here is
// tested without it.
package embedded
