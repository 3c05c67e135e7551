package pgtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ServerPID is the pid of the postmaster serving pool, or 0 when it is not
// readable from here (a remote server).
func ServerPID(pool *pgxpool.Pool) int {
	var dir string
	if err := pool.QueryRow(context.Background(), `SHOW data_directory`).Scan(&dir); err != nil {
		return 0
	}
	b, err := os.ReadFile(dir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return pid
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times, on Linux.
const clockTick = 10 * time.Millisecond

// ServerCPU is the CPU time of the postmaster pid (from ServerPID) and its
// server processes so far: its own and its reaped children's, plus that of
// its live children; 0 for pid 0.
func ServerCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	ticks := func(p string, children bool) (ppid int, t int64) {
		b, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			return 0, 0
		}
		// Fields after the parenthesised command: state ppid ... utime(14) stime cutime cstime.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 15 {
			return 0, 0
		}
		ppid, _ = strconv.Atoi(f[1])
		last := 12
		if children {
			last = 14
		}
		for _, x := range f[11 : last+1] {
			v, _ := strconv.ParseInt(x, 10, 64)
			t += v
		}
		return ppid, t
	}
	_, total := ticks(strconv.Itoa(pid), true)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if ppid, t := ticks(e.Name(), false); ppid == pid {
			total += t
		}
	}
	return time.Duration(total) * clockTick
}
