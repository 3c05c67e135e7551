package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/layerq/layerq/internal/filelock"
)

// pollInterval is how often readiness and shutdown are polled.
const pollInterval = 50 * time.Millisecond

// maxLaunchAttempts bounds retries of a start that failed for a passing
// reason: an automatically chosen TCP port taken by the time the server binds
// it, or a crashed server's processes still exiting.
const maxLaunchAttempts = 5

// start brings the server up: under the Dir lock it reuses a running
// Persistent server, or runs initdb if needed, launches postgres and waits
// for it, then creates opts.Database.
func (c *Cluster) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := c.opts.Dir
	if err := c.user.checkReachable(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating parent of cluster dir %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating cluster dir %s: %w", dir, err)
	}
	if err := c.user.checkReachable(dir); err != nil {
		return err
	}
	root, err := openRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	lock, err := c.openOwned(root, "lock", os.O_RDWR|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("starting cluster in %s: opening the lock file: %w", dir, err)
	}
	// Files opened by os.Root are close-on-exec: the server never
	// inherits the lock.
	unlock, err := filelock.Lock(ctx, lock)
	if err != nil {
		return fmt.Errorf("starting cluster in %s: %w", dir, err)
	}
	defer unlock()

	if c.opts.Persistent {
		reused, err := c.reuseRunning(ctx, root)
		if err != nil {
			return err
		}
		if reused {
			c.reused = true
			return c.ensureDatabase(ctx)
		}
	}
	c.reused = false
	if err := c.prepareDir(root); err != nil {
		return fmt.Errorf("preparing cluster dir %s: %w", dir, err)
	}
	if c.opts.StandbyOf != nil {
		if err := c.basebackup(ctx, root); err != nil {
			return err
		}
	} else if err := c.initdb(ctx, root); err != nil {
		return err
	}
	if err := c.launch(ctx, root); err != nil {
		return err
	}
	if err := c.writePortFile(root); err != nil {
		return err
	}
	return c.ensureDatabase(ctx)
}

// prepareDir creates the socket dir and log file, checks the port file and
// data dir, and hands Dir and the files pglaunch made in it to the server
// user. Everything goes through root (see clusterdir.go); nothing else in Dir
// is touched, so a link planted there is never followed.
func (c *Cluster) prepareDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	err = c.user.own(d)
	d.Close()
	if err != nil {
		return err
	}
	sock, err := makeDirEntry(root, "sock", 0o700)
	if err != nil {
		return fmt.Errorf("creating socket dir: %w", err)
	}
	err = sock.Chmod(0o700)
	if err == nil {
		err = c.user.own(sock)
	}
	sock.Close()
	if err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	if err := c.ownEntry(root, "server.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE); err != nil {
		return err
	}
	// Checked now, so that a bad one stops Start before postgres runs.
	if _, err := root.Lstat("port"); err == nil {
		if err := c.ownEntry(root, "port", os.O_RDONLY); err != nil {
			return err
		}
	}
	fi, err := root.Lstat("data")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	if err := checkEntry(root, "data", fi, true); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && c.user.switchCred && st.Uid != c.user.uid {
		return fmt.Errorf("data dir %s belongs to uid %d, not to server OS user %s; give it to an unprivileged user (chown -R) or choose another Dir", c.dataDir, st.Uid, c.user)
	}
	return nil
}

// openOwned opens the file name in root with flag (creating it 0600 with
// O_CREATE) and gives it to the server user.
func (c *Cluster) openOwned(root *os.Root, name string, flag int) (*os.File, error) {
	f, err := openEntry(root, name, flag, 0o600)
	if err != nil {
		return nil, err
	}
	if err := c.user.own(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ownEntry is openOwned for a file that need not stay open.
func (c *Cluster) ownEntry(root *os.Root, name string, flag int) error {
	f, err := c.openOwned(root, name, flag)
	if err != nil {
		return err
	}
	return f.Close()
}

// initdb creates the data directory unless it already holds a cluster. It
// initialises into a scratch directory and renames it into place, so an
// interrupted initdb never leaves a half-made data/ behind.
func (c *Cluster) initdb(ctx context.Context, root *os.Root) error {
	if _, err := root.Stat("data/PG_VERSION"); err == nil {
		return nil
	}
	if _, err := root.Lstat("data"); err == nil {
		return fmt.Errorf("initdb in %s: directory exists but holds no cluster (no PG_VERSION); remove it", c.dataDir)
	}
	const scratchName = "data.initdb"
	scratch := filepath.Join(c.opts.Dir, scratchName)
	if err := root.RemoveAll(scratchName); err != nil {
		return fmt.Errorf("initdb in %s: removing leftover %s: %w", c.dataDir, scratch, err)
	}
	args := []string{"-D", scratch, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if !c.opts.Persistent {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "initdb"), args...)
	cmd.Dir = c.opts.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = c.user.sysProcAttr()
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if out, err := cmd.CombinedOutput(); err != nil {
		root.RemoveAll(scratchName)
		return fmt.Errorf("initdb in %s as %s: %w\n%s", c.dataDir, c.user, err, tail(out, 40))
	}
	if err := root.Rename(scratchName, "data"); err != nil {
		return fmt.Errorf("initdb in %s: moving data into place: %w", c.dataDir, err)
	}
	return nil
}

// basebackup makes the data directory a copy of the primary
// (opts.StandbyOf) that starts as its standby, unless it holds a cluster
// already. Like initdb, it copies into a scratch directory first.
func (c *Cluster) basebackup(ctx context.Context, root *os.Root) error {
	if _, err := root.Stat("data/PG_VERSION"); err == nil {
		return nil
	}
	p := c.opts.StandbyOf
	const scratchName = "data.basebackup"
	scratch := filepath.Join(c.opts.Dir, scratchName)
	if err := root.RemoveAll(scratchName); err != nil {
		return fmt.Errorf("pg_basebackup into %s: removing leftover %s: %w", c.dataDir, scratch, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "pg_basebackup"), "-D", scratch, "-h", p.SocketDir(), "-p", strconv.Itoa(p.Port()),
		"-U", SuperUser, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	cmd.Dir = c.opts.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = c.user.sysProcAttr()
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if out, err := cmd.CombinedOutput(); err != nil {
		root.RemoveAll(scratchName)
		return fmt.Errorf("pg_basebackup of %s into %s as %s: %w\n%s", p.dataDir, c.dataDir, c.user, err, tail(out, 40))
	}
	if err := root.Rename(scratchName, "data"); err != nil {
		return fmt.Errorf("pg_basebackup into %s: moving data into place: %w", c.dataDir, err)
	}
	return nil
}

// launch starts postgres and waits until it accepts connections, retrying
// on another port if an automatically chosen one turns out to be taken, and
// after a pause if a crashed server's backends still hold shared memory.
func (c *Cluster) launch(ctx context.Context, root *os.Root) error {
	auto := c.opts.Port == 0
	if c.port == 0 && c.opts.Persistent {
		c.port = readPortFile(root)
	}
	for attempt := 1; ; attempt++ {
		if c.port == 0 {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("starting postgres in %s: %w", c.dataDir, err)
			}
			c.port = p
		}
		err := c.launchOnce(ctx, root)
		switch {
		case err == nil:
			return nil
		case attempt >= maxLaunchAttempts:
			return err
		case errors.Is(err, errPortTaken) && auto:
			c.port = 0
		case errors.Is(err, errShmemInUse):
			// Backends of a crashed postmaster are still exiting.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		default:
			return err
		}
	}
}

// errPortTaken marks a start that failed because the TCP port was in use.
var errPortTaken = errors.New("port already in use")

// errShmemInUse marks a start that failed because processes of a crashed
// server still held its shared memory.
var errShmemInUse = errors.New("shared memory of a previous server still in use")

// launchOnce starts postgres on c.port and waits for readiness.
func (c *Cluster) launchOnce(ctx context.Context, root *os.Root) error {
	logf, err := c.openOwned(root, "server.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("opening server log: %w", err)
	}
	logStart, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "--- pglaunch: starting postgres as %s on port %d at %s ---\n",
		c.user, c.port, time.Now().Format(time.RFC3339))

	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), c.serverArgs()...)
	cmd.Dir = c.opts.Dir
	cmd.Env = childEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = c.user.sysProcAttr()
	if c.opts.Persistent {
		cmd.SysProcAttr.Setsid = true // detach: no terminal signals, outlives us
	} else {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // die with the test binary
	}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("starting postgres in %s as %s: %w", c.dataDir, c.user, err)
	}
	ch := &child{proc: cmd.Process, exited: make(chan struct{})}
	go func() {
		ch.err = cmd.Wait()
		close(ch.exited)
	}()

	exited := func() (bool, string) {
		select {
		case <-ch.exited:
			return true, fmt.Sprintf("postgres exited during startup (%v)", ch.err)
		default:
			return false, ""
		}
	}
	if err := waitReady(ctx, socketURL(c.sockDir, c.port, "postgres"), exited); err != nil {
		_ = ch.proc.Kill()
		select {
		case <-ch.exited:
		case <-time.After(5 * time.Second):
		}
		logTail := readLogTail(root, logStart)
		err = fmt.Errorf("waiting for postgres in %s to accept connections: %w%s", c.dataDir, err, formatLogTail(c.logPath, logTail))
		switch {
		case strings.Contains(logTail, "could not bind") || strings.Contains(logTail, "could not create any TCP/IP sockets"):
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		case strings.Contains(logTail, "pre-existing shared memory block"):
			err = fmt.Errorf("%w: %w", errShmemInUse, err)
		}
		return err
	}
	c.child = ch
	return nil
}

// serverArgs returns the postgres command line; settings are passed with -c
// so nothing in the data directory needs editing.
func (c *Cluster) serverArgs() []string {
	listen := ""
	if c.tcp {
		listen = "127.0.0.1"
	}
	settings := []string{
		"port=" + strconv.Itoa(c.port),
		"unix_socket_directories=" + quoteDirList(c.sockDir),
		"listen_addresses=" + listen,
		"max_connections=200",
		"shared_buffers=128MB",
	}
	if !c.opts.Persistent {
		// Throwaway test clusters trade crash safety for speed.
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	settings = append(settings, c.opts.Settings...)
	args := []string{"-D", c.dataDir}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return args
}

// quoteDirList quotes a directory for a comma-separated list setting such as
// unix_socket_directories when it contains separators or spaces.
func quoteDirList(dir string) string {
	if strings.ContainsAny(dir, ", \t") {
		return `"` + strings.ReplaceAll(dir, `"`, `""`) + `"`
	}
	return dir
}

// childEnv is the environment for initdb and postgres: the caller's, minus
// PG* variables that could redirect them, with a fixed message locale.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// freePort asks the kernel for an unused TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readPortFile returns the port recorded in Dir by the last successful
// start, or 0.
func readPortFile(root *os.Root) int {
	b, err := readEntry(root, "port", 16)
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

// writePortFile records the port so a later start of a Persistent cluster
// keeps its URL.
func (c *Cluster) writePortFile(root *os.Root) error {
	f, err := openEntry(root, "port", os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("writing the port file: %w", err)
	}
	err = c.user.own(f)
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteString(strconv.Itoa(c.port) + "\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing port file %s: %w", f.Name(), err)
	}
	return nil
}

// readLogTail returns the end of the server log in Dir written since offset.
func readLogTail(root *os.Root, offset int64) string {
	f, err := openEntry(root, "server.log", os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxBytes = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxBytes))
	return tail(b, 40)
}

// formatLogTail presents a log tail for an error message.
func formatLogTail(path, text string) string {
	if text == "" {
		return ""
	}
	return fmt.Sprintf("\nserver log %s ends with:\n%s", path, text)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
