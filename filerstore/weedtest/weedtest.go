// Package weedtest runs a real SeaweedFS filer for tests, in the spirit of net/http/httptest:
// it starts `weed server -filer` on free loopback ports in a temporary directory, waits until
// the filer answers gRPC, and stops it when the test ends. It can also kill the process
// (SIGKILL) and restart it on the same data directory and ports, for crash tests.
//
// The weed binary is found through the OFFSETKIT_WEED environment variable, else in the cache
// directory where offsetkit's scripts/build-weed.sh puts it. ./scripts/test.sh builds it and
// sets the variable; a test that cannot find it fails (it never skips) with the command that
// provides one:
//
//	export OFFSETKIT_WEED=$(./scripts/build-weed.sh)   # from the repository root
package weedtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EnvBinary names the environment variable holding the path of the weed binary.
const EnvBinary = "OFFSETKIT_WEED"

// DefaultVersion is the SeaweedFS module version whose binary Binary looks for in the cache
// when the build information does not name one.
const DefaultVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// startTimeout bounds how long Start waits for the filer to answer.
const startTimeout = 90 * time.Second

// stopTimeout bounds how long Stop waits after SIGTERM before it kills the process. weed
// server stops its volume server before its filer, and a filer that has logged metadata
// events then retries flushing that log to a volume until it is killed; the filer's entries
// are already in its store by then and survive.
const stopTimeout = 5 * time.Second

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// Binary is the weed binary. Default: the result of Binary().
	Binary string
	// Dir is the data directory. Default: a new temporary directory, removed by Close.
	Dir string
}

// Server is a running (or stopped) `weed server -filer` process on loopback.
type Server struct {
	bin    string
	dir    string
	ownDir bool
	ports  [6]int // master, master gRPC, volume, volume gRPC, filer, filer gRPC

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	log    *os.File
}

// howToGetWeed is the command that provides a weed binary, for the error of a missing one.
const howToGetWeed = "build one with `export " + EnvBinary + "=$(./scripts/build-weed.sh)` from the " +
	"offsetkit repository root (../scripts/build-weed.sh from filerstore; about 6 minutes the first " +
	"time, then cached), or run ./scripts/test.sh, which does that and runs every test"

// Binary returns the path of the weed binary: $OFFSETKIT_WEED if set, else the binary that
// scripts/build-weed.sh caches under ${OFFSETKIT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/offsetkit}.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("weedtest: %s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	cache := os.Getenv("OFFSETKIT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("weedtest: no weed binary: %s is unset and %w; %s", EnvBinary, err, howToGetWeed)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "offsetkit")
	}
	p := filepath.Join(cache, "weed-"+seaweedVersion(), "weed")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("weedtest: no weed binary: %s is unset and %s does not exist; %s", EnvBinary, p, howToGetWeed)
	}
	return p, nil
}

// seaweedVersion is the SeaweedFS module version this binary was built with.
func seaweedVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/seaweedfs/seaweedfs" && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return DefaultVersion
}

// Start starts a filer for t and stops it (and removes its data) when t ends. It fails t if
// the filer cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// New starts a filer and waits until it answers. The caller must Close it. Use it where no
// testing.TB exists yet, such as in TestMain.
func New(opts Options) (*Server, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	s := &Server{bin: bin, dir: opts.Dir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "weedtest-")
		if err != nil {
			return nil, fmt.Errorf("weedtest: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	// Free ports are picked, released and then bound by weed: another process can take
	// one in between, so retry with new ports.
	var err error
	for range 3 {
		if err = s.pickPorts(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
	return nil, err
}

// Addr returns the filer's gRPC address, host:port on 127.0.0.1.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports[5])) }

// Pid returns the process id of the running weed process, or 0 when it is not running; for
// reading its CPU time from /proc in benchmarks.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Dir returns the data directory.
func (s *Server) Dir() string { return s.dir }

// Log returns what the weed process has written to its log file so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "weed.log"))
	return string(b)
}

// pickPorts picks six free loopback ports for weed. They are chosen at random outside the
// kernel's ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range), where the kernel
// never assigns the local port of an outgoing connection: while weed is down between Kill and
// Restart, no connection of another process can take one of its ports.
func (s *Server) pickPorts() error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	lo, hi := ephemeralRange()
	picked := map[int]bool{}
	for i := range s.ports {
		port, err := 0, error(nil)
		for try := 0; ; try++ {
			if try == 200 {
				return fmt.Errorf("weedtest: no free port outside the ephemeral range %d-%d: %w", lo, hi, err)
			}
			port = 1024 + rand.IntN(65536-1024)
			if port >= lo && port <= hi || picked[port] {
				continue
			}
			var l net.Listener
			if l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
				continue
			}
			ls = append(ls, l)
			break
		}
		picked[port] = true
		s.ports[i] = port
	}
	return nil
}

// ephemeralRange returns the kernel's range of local ports for outgoing connections, or
// IANA's dynamic range (49152-65535) where it cannot be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && l <= h {
				return l, h
			}
		}
	}
	return 49152, 65535
}

// start runs weed and waits until the filer answers a lookup.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("weedtest: already running")
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("weedtest: %w", err)
	}
	p := s.ports
	cmd := exec.Command(s.bin, "-logtostderr", "server",
		"-dir="+s.dir,
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-filer",
		"-master.port="+strconv.Itoa(p[0]), "-master.port.grpc="+strconv.Itoa(p[1]),
		"-volume.port="+strconv.Itoa(p[2]), "-volume.port.grpc="+strconv.Itoa(p[3]),
		"-filer.port="+strconv.Itoa(p[4]), "-filer.port.grpc="+strconv.Itoa(p[5]),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=4",
		"-volume.preStopSeconds=0",
	)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = environ()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("weedtest: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.log = cmd, exited, log

	if err := waitReady(s.Addr(), exited); err != nil {
		s.killLocked()
		return fmt.Errorf("weedtest: filer at %s did not start: %w\n--- weed.log (tail) ---\n%s", s.Addr(), err, tail(s.Log(), 4000))
	}
	return nil
}

// waitReady polls the filer with a real lookup until it answers (found or not found).
func waitReady(addr string, exited <-chan struct{}) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := filer_pb.NewSeaweedFilerClient(conn)
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("weed exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := filer_pb.LookupEntry(ctx, client, &filer_pb.LookupDirectoryEntryRequest{Directory: "/", Name: "weedtest-ready-probe"})
		cancel()
		if err == nil || errors.Is(err, filer_pb.ErrNotFound) {
			return nil
		}
		last = err
		select {
		case <-exited:
			return errors.New("weed exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer in %v: %w", startTimeout, last)
}

// Kill sends SIGKILL to the weed process and waits for it to die, as a crash would. The data
// directory stays, for Restart.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("weedtest: not running")
	}
	s.killLocked()
	return nil
}

func (s *Server) killLocked() {
	s.cmd.Process.Kill()
	<-s.exited
	s.afterExitLocked()
}

func (s *Server) afterExitLocked() {
	s.log.Close()
	s.cmd, s.exited, s.log = nil, nil, nil
	// weed leaves unix sockets named after its ports in /tmp (a fixed path in weed), such
	// as seaweedfs-filer-<port>.sock: remove those of this server's ports.
	for _, p := range s.ports {
		matches, _ := filepath.Glob("/tmp/seaweedfs-*-" + strconv.Itoa(p) + ".sock")
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// Pause freezes the weed process (SIGSTOP): its ports stay open but nothing answers, as with
// a hung filer or a network partition. Resume undoes it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume lets a paused weed process run again (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("weedtest: not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Stop stops the weed process gracefully (SIGTERM, then SIGKILL after 5 s). The data
// directory stays, for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.afterExitLocked()
	case <-time.After(stopTimeout):
		s.killLocked()
	}
	return nil
}

// Restart starts weed again on the same data directory and ports, stopping it first if it is
// running, and waits until the filer answers.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

// Running reports whether the weed process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Close stops the server and removes the data directory if New created it.
func (s *Server) Close() error {
	err := s.Stop()
	if s.ownDir {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// environ is the test process's environment without SENTRY_DSN, so weed reports nothing.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !bytes.HasPrefix([]byte(kv), []byte("SENTRY_DSN=")) {
			env = append(env, kv)
		}
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
