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
	unlock, err := lockFile(ctx, filepath.Join(dir, "lock"))
	if err != nil {
		return fmt.Errorf("starting cluster in %s: %w", dir, err)
	}
	defer unlock()

	if c.opts.Persistent {
		reused, err := c.reuseRunning(ctx)
		if err != nil {
			return err
		}
		if reused {
			c.reused = true
			return c.ensureDatabase(ctx)
		}
	}
	c.reused = false
	if err := c.prepareDir(); err != nil {
		return err
	}
	if err := c.initdb(ctx); err != nil {
		return err
	}
	if err := c.launch(ctx); err != nil {
		return err
	}
	if err := c.writePortFile(); err != nil {
		return err
	}
	return c.ensureDatabase(ctx)
}

// prepareDir creates the socket dir and log file and hands Dir to the
// server user.
func (c *Cluster) prepareDir() error {
	if err := os.Mkdir(c.sockDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating socket dir %s: %w", c.sockDir, err)
	}
	if err := os.Chmod(c.sockDir, 0o700); err != nil {
		return fmt.Errorf("chmod socket dir %s: %w", c.sockDir, err)
	}
	f, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating server log %s: %w", c.logPath, err)
	}
	f.Close()
	if c.user.switchCred {
		if fi, err := os.Stat(c.dataDir); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != c.user.uid {
				return fmt.Errorf("data dir %s belongs to uid %d, not to server OS user %s; set %s to its owner or choose another Dir", c.dataDir, st.Uid, c.user, serverUserEnv)
			}
		}
	}
	if err := c.user.chownTree(c.opts.Dir, c.dataDir); err != nil {
		return fmt.Errorf("preparing cluster dir %s: %w", c.opts.Dir, err)
	}
	return nil
}

// initdb creates the data directory unless it already holds a cluster. It
// initialises into a scratch directory and renames it into place, so an
// interrupted initdb never leaves a half-made data/ behind.
func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	if _, err := os.Stat(c.dataDir); err == nil {
		return fmt.Errorf("initdb in %s: directory exists but holds no cluster (no PG_VERSION); remove it", c.dataDir)
	}
	scratch := c.dataDir + ".initdb"
	if err := os.RemoveAll(scratch); err != nil {
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
		os.RemoveAll(scratch)
		return fmt.Errorf("initdb in %s as %s: %w\n%s", c.dataDir, c.user, err, tail(out, 40))
	}
	if err := os.Rename(scratch, c.dataDir); err != nil {
		return fmt.Errorf("initdb in %s: moving data into place: %w", c.dataDir, err)
	}
	return nil
}

// launch starts postgres and waits until it accepts connections, retrying
// on another port if an automatically chosen one turns out to be taken, and
// after a pause if a crashed server's backends still hold shared memory.
func (c *Cluster) launch(ctx context.Context) error {
	auto := c.opts.Port == 0
	if c.port == 0 && c.opts.Persistent {
		c.port = c.readPortFile()
	}
	for attempt := 1; ; attempt++ {
		if c.port == 0 {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("starting postgres in %s: %w", c.dataDir, err)
			}
			c.port = p
		}
		err := c.launchOnce(ctx)
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
func (c *Cluster) launchOnce(ctx context.Context) error {
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening server log %s: %w", c.logPath, err)
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
		logTail := c.logTail(logStart)
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

// readPortFile returns the port recorded by the last successful start, or 0.
func (c *Cluster) readPortFile() int {
	b, err := os.ReadFile(filepath.Join(c.opts.Dir, "port"))
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
func (c *Cluster) writePortFile() error {
	path := filepath.Join(c.opts.Dir, "port")
	if err := os.WriteFile(path, []byte(strconv.Itoa(c.port)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing port file %s: %w", path, err)
	}
	if c.user.switchCred {
		if err := os.Lchown(path, int(c.user.uid), int(c.user.gid)); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	return nil
}

// logTail returns the end of the server log written since offset.
func (c *Cluster) logTail(offset int64) string {
	f, err := os.Open(c.logPath)
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
	b, _ := io.ReadAll(f)
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
