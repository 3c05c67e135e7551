package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dataDirEnv is the environment of a user with neither DATABASE_URL nor
// NATS_URL, on a data directory dir: the embedded defaults.
func dataDirEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || strings.HasPrefix(name, "NATS_") || strings.HasPrefix(name, "XDG_") ||
			(strings.HasPrefix(name, "LAYERQ_") && name != "LAYERQ_PG_USER") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LAYERQ_DATA_DIR="+dir)
}

// buildCommands builds layerq-ingest and layerq into a temporary directory.
func buildCommands(t *testing.T) (ingest, query string) {
	t.Helper()
	bin := t.TempDir()
	ingest, query = filepath.Join(bin, "layerq-ingest"), filepath.Join(bin, "layerq")
	for out, pkg := range map[string]string{ingest: "./cmd/ingest", query: "./cmd/query"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return ingest, query
}

// The embedded defaults work on a fresh machine, as root too, whatever runs
// first: serve, a report or migrate makes the data directory so that every
// later command on it works, and the local Postgres, running as another
// user, can reach it.
func TestDataDirInAnyOrder(t *testing.T) {
	ingest, query := buildCommands(t)
	run := func(t *testing.T, env []string, bin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
		}
	}
	serve := func(t *testing.T, env []string) {
		t.Helper()
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cmd := exec.Command(ingest, "serve", "--registry", "127.0.0.1:1", "--insecure-no-auth", "--listen", addr)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
		for ready := false; !ready; {
			select {
			case err := <-exited:
				t.Fatalf("serve exited before serving /healthz: %v\n%s", err, out.String())
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				t.Fatalf("serve did not serve /healthz within a minute\n%s", out.String())
			case <-time.After(100 * time.Millisecond):
			}
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusOK
			}
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("serve after SIGTERM: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("serve did not stop within 30 s of SIGTERM\n%s", out.String())
		}
	}
	storage := func(t *testing.T, env []string) { run(t, env, query, "storage") }
	topShared := func(t *testing.T, env []string) { run(t, env, query, "top-shared") }
	migrate := func(t *testing.T, env []string) { run(t, env, ingest, "migrate") }

	for _, order := range []struct {
		name  string
		steps []func(*testing.T, []string)
		nats  bool // serve made the embedded JetStream store
	}{
		{"serve then a report", []func(*testing.T, []string){serve, storage}, true},
		{"a report then serve", []func(*testing.T, []string){storage, serve}, true},
		{"migrate then a report", []func(*testing.T, []string){migrate, topShared}, false},
	} {
		t.Run(order.name, func(t *testing.T) {
			// A fresh data dir under a parent as a machine has them (0755,
			// root's when run as root), which os.MkdirTemp makes 0700.
			parent, err := os.MkdirTemp("", "layerq-datadir-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(parent) })
			if err := os.Chmod(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(parent, "var", "lib", "layerq")
			env := dataDirEnv(dataDir)
			stopped := false
			t.Cleanup(func() {
				if !stopped { // the test failed half-way: stop what runs
					exec.Command(ingest, "--data-dir", dataDir, "local", "stop").Run()
				}
			})
			for _, step := range order.steps {
				step(t, env)
			}

			wantMode := os.FileMode(0o700)
			if os.Geteuid() == 0 {
				wantMode = 0o711
			}
			for _, dir := range []string{filepath.Join(parent, "var"), filepath.Join(parent, "var", "lib"), dataDir} {
				if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != wantMode {
					t.Errorf("%s: %v; want mode %v", dir, modeOrErr(fi, err), wantMode)
				}
			}
			if order.nats {
				if fi, err := os.Stat(filepath.Join(dataDir, "nats")); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("nats store: %v; want mode 0700", modeOrErr(fi, err))
				}
			}
			fi, err := os.Stat(filepath.Join(dataDir, "postgres"))
			if err != nil {
				t.Fatal(err)
			}
			if owner := fi.Sys().(*syscall.Stat_t).Uid; (os.Geteuid() == 0) != (owner != 0) {
				t.Errorf("the local Postgres dir belongs to uid %d, running as uid %d", owner, os.Geteuid())
			}

			run(t, env, ingest, "local", "stop")
			stopped = true
		})
	}
}

// modeOrErr describes a Stat result for a failure message.
func modeOrErr(fi os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fi.Mode().Perm()
}
