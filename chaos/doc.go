// Package chaos holds layerq's end-to-end failure test: real nats-server,
// distribution registry, Postgres and layerq-ingest processes, killed and
// restarted while images are pushed and deleted, and a graph that must end
// up row for row as a fault-free run leaves it. See docs/operations.md.
package chaos
