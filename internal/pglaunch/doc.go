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
// server (and initdb) run as an unprivileged OS user instead. An existing
// data directory decides: the server runs as its owner, so commands started
// in any order, or with a different environment, all work on one cluster.
// For a new cluster it is Options.User, else $LAYERQ_PG_USER, else
// "postgres" if that user exists, else a dedicated system user "layerq" —
// used if it exists, else created with useradd (or Debian's adduser) as a
// system user with its own group, no home and no login shell — and only if
// that cannot be made, "nobody". Start checks that the user can traverse
// every parent directory of Dir, and gives it Dir and the files Start makes
// there (sock/, server.log, port, lock).
//
// Dir then belongs to the server user, who could plant links in it. So as
// root pglaunch never follows a path inside Dir: every file operation goes
// through an os.Root on Dir, modes and owners are changed through open
// descriptors, and nothing in Dir but what Start makes is touched. A
// symbolic link or a hard link at server.log, port, lock, sock/ or data/
// makes Start refuse with an error naming it; one at data/postmaster.pid or
// at server.log is never read (a log tail is then left out of an error), and
// no error quotes the pid file. Stop signals the PID in postmaster.pid only
// if that process is a postgres running as the server user.
//
// The database superuser is always named "layerq" and authentication is
// "trust", so a cluster must only be reachable by its owner: the socket
// directory is private and TCP, when enabled, listens on 127.0.0.1 only.
package pglaunch
