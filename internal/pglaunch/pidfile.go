package pglaunch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidFile is the part of data/postmaster.pid that Start and Stop use.
type pidFile struct {
	pid     int
	dataDir string // the data directory the server runs in
	port    int
	sockDir string // its first unix socket directory
	listen  string // its first TCP listen address; "" for none
	status  string // "starting", "ready", "standby" or "stopping"
}

// pidFileName is the server's PID file in the data directory.
const pidFileName = "postmaster.pid"

// readPIDFile parses data/postmaster.pid in the cluster dir root: line 1 is
// the postmaster's PID, line 2 its data directory, line 4 its port, line 5
// its socket directory, line 6 its TCP listen address and line 8 its status
// (PostgreSQL's miscadmin.h, LOCK_FILE_LINE_*). The server user writes the file, so
// it is read through the Root, with its checks (see clusterdir.go).
func readPIDFile(root *os.Root) (pidFile, error) {
	data, err := openSubRoot(root, "data")
	if err != nil {
		return pidFile{}, err
	}
	defer data.Close()
	path := filepath.Join(data.Name(), pidFileName)
	b, err := readEntry(data, pidFileName, 4<<10)
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	var pf pidFile
	if pf.pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || pf.pid <= 0 {
		return pidFile{}, fmt.Errorf("parsing %s: the first line is not a PID", path)
	}
	line := func(n int) string {
		if len(lines) < n {
			return ""
		}
		return strings.TrimSpace(lines[n-1])
	}
	pf.dataDir = line(2)
	pf.port, _ = strconv.Atoi(line(4))
	pf.sockDir = line(5)
	pf.listen = line(6)
	pf.status = line(8)
	return pf, nil
}

// procState classifies the process a postmaster.pid names.
type procState int

const (
	procGone     procState = iota // no such process
	procZombie                    // exited but not reaped: postgres would still see it
	procOther                     // PID reused by a program that is not postgres
	procPostgres                  // a live postgres process
)

// processState inspects pid through /proc, falling back to kill(pid, 0)
// where /proc is unavailable.
func processState(pid int) procState {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, statErr := os.Stat("/proc/self/stat"); statErr == nil {
				return procGone
			}
		}
		if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
			return procGone
		}
		return procPostgres
	}
	// Format: "pid (comm) state ...", where comm may itself contain ')'.
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open || close+2 >= len(b) {
		return procPostgres
	}
	switch b[close+2] {
	case 'Z', 'X', 'x':
		return procZombie
	}
	if string(b[open+1:close]) != "postgres" {
		return procOther
	}
	return procPostgres
}

// processOwner returns the uid pid runs as (the owner of /proc/<pid>).
func processOwner(pid int) (uint32, bool) {
	fi, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// runsDataDir reports whether process pid is a postmaster given dataDir on
// its command line (postgres -D DIR, as pglaunch starts it); a backend's
// command line is its title, and another cluster's names another directory.
func runsDataDir(pid int, dataDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i, a := range args {
		if a == "-D" && i+1 < len(args) && sameDir(args[i+1], dataDir) {
			return true
		}
	}
	return false
}
