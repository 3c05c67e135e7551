// Package pglaunch starts a private PostgreSQL cluster from the system's
// server binaries (initdb, postgres, pg_ctl).
//
// A cluster lives in one directory, Options.Dir, which holds:
//
//	data/        the data directory (PGDATA), created by initdb
//	sock/        the private unix-socket directory (mode 0700)
//	server.log   the server's stdout and stderr
//	port         the port of the last successful start
//	lock         a flock(2) lock file serialising Start calls on the Dir
//
// PostgreSQL refuses to run as root. When the calling process is root, the
// server (and initdb) run as an unprivileged OS user instead: Options.User,
// else $LAYERQ_PG_USER, else "postgres" if that user exists, else "nobody".
// Start then chowns Dir and everything in it except data/ to that user, and
// checks that the user can traverse every parent directory of Dir.
//
// The database superuser is always named "layerq" and authentication is
// "trust", so a cluster must only be reachable by its owner: the socket
// directory is private and TCP, when enabled, listens on 127.0.0.1 only.
package pglaunch
