// Package e2e runs SeaweedFS's Kafka gateway (`weed mq.kafka.gateway`) on loopback over a real
// `weed server -filer -mq.broker`, and holds the checks that the end-to-end tests assert on
// the gateway patched to run on offsetkit and that the README's table records for both the
// stock and the patched gateway.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvPatchedBinary names the environment variable holding the path of the patched weed binary.
// Without it, PatchedBinary runs build-weed-kafka.sh, which prints the cached binary.
const EnvPatchedBinary = "OFFSETKIT_WEED_KAFKA"

// PatchedBinary returns the path of the weed binary built from the patches: $OFFSETKIT_WEED_KAFKA
// if set, else the output of the build script at script (build-weed-kafka.sh), which builds it
// once and caches it.
func PatchedBinary(script string) (string, error) {
	if p := os.Getenv(EnvPatchedBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvPatchedBinary, p, err)
		}
		return p, nil
	}
	cmd := exec.Command(script)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Cluster is a `weed server -filer -mq.broker` process (master, volume server, filer and MQ
// broker) on free loopback ports, in its own data directory.
type Cluster struct {
	bin   string
	dir   string
	ports [7]int // master, master gRPC, volume, volume gRPC, filer, filer gRPC, broker
	proc  *process
}

// StartCluster starts a cluster with the weed binary bin in dir and waits until its filer
// answers HTTP. The caller must Close it.
func StartCluster(bin, dir string) (*Cluster, error) {
	c := &Cluster{bin: bin, dir: dir}
	var err error
	for range 3 { // a picked port can be taken before weed binds it: retry with new ones
		var ports []int
		if ports, err = freePorts(len(c.ports)); err != nil {
			return nil, err
		}
		copy(c.ports[:], ports)
		if err = c.start(); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func (c *Cluster) start() error {
	p := c.ports
	args := []string{"-logtostderr", "server",
		"-dir=" + c.dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + strconv.Itoa(p[0]), "-master.port.grpc=" + strconv.Itoa(p[1]),
		"-volume.port=" + strconv.Itoa(p[2]), "-volume.port.grpc=" + strconv.Itoa(p[3]),
		"-filer", "-filer.port=" + strconv.Itoa(p[4]), "-filer.port.grpc=" + strconv.Itoa(p[5]),
		"-mq.broker", "-mq.broker.port=" + strconv.Itoa(p[6]),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=8",
		"-volume.preStopSeconds=0",
	}
	proc, err := startProcess(c.bin, args, filepath.Join(c.dir, "weed.log"), c.dir)
	if err != nil {
		return err
	}
	c.proc = proc
	url := fmt.Sprintf("127.0.0.1:%d", p[4])
	if err := waitFor(90*time.Second, proc, func() bool { return dialOK(url) }); err != nil {
		c.Close()
		return fmt.Errorf("weed server: filer HTTP %s: %w\n%s", url, err, tail(c.proc.Log(), 3000))
	}
	return nil
}

// Master returns the master address in the form weed's -master flag takes: host:port.grpcPort.
func (c *Cluster) Master() string {
	return fmt.Sprintf("127.0.0.1:%d.%d", c.ports[0], c.ports[1])
}

// FilerGRPC returns the filer's gRPC address.
func (c *Cluster) FilerGRPC() string { return fmt.Sprintf("127.0.0.1:%d", c.ports[5]) }

// Log returns the weed server's output so far.
func (c *Cluster) Log() string { return c.proc.Log() }

// Close stops the weed server (SIGTERM, then SIGKILL after 15 s) and removes the unix sockets
// weed leaves in the temporary directory.
func (c *Cluster) Close() error {
	if c.proc == nil {
		return nil
	}
	c.proc.Stop(15 * time.Second)
	removeSockets(c.ports[:])
	return nil
}

// Gateway is a `weed mq.kafka.gateway` process.
type Gateway struct {
	bin     string
	cluster *Cluster
	dir     string
	port    int
	regPort int // a closed port for -schema-registry-url
	proc    *process
	starts  int
}

// StartGateway starts the gateway of the weed binary bin against cluster, listening on a free
// loopback port, with its log in dir, and waits until it is ready (see Gateway.Restart).
func StartGateway(bin string, cluster *Cluster, dir string) (*Gateway, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	g := &Gateway{bin: bin, cluster: cluster, dir: dir, port: ports[0], regPort: ports[1]}
	if err := g.Restart(); err != nil {
		return nil, err
	}
	return g, nil
}

// Addr returns the address the gateway listens on.
func (g *Gateway) Addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

// Log returns what the current gateway process has written so far.
func (g *Gateway) Log() string {
	if g.proc == nil {
		return ""
	}
	return g.proc.Log()
}

// Restart starts the gateway again on the same port, stopping it first if it runs, and waits
// until it listens and has become the coordinator registry leader: before that, its
// FindCoordinator answers name a node its Metadata does not list.
func (g *Gateway) Restart() error {
	if g.proc != nil {
		g.Stop()
	}
	g.starts++
	args := []string{"-logtostderr", "mq.kafka.gateway",
		"-master=" + g.cluster.Master(), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-port=" + strconv.Itoa(g.port),
		// Required by the command; nothing listens there, so only topics whose names start
		// with '_' (system topics) can be created.
		"-schema-registry-url=http://127.0.0.1:" + strconv.Itoa(g.regPort),
	}
	proc, err := startProcess(g.bin, args, filepath.Join(g.dir, fmt.Sprintf("gateway-%d-%d.log", g.port, g.starts)), g.dir)
	if err != nil {
		return err
	}
	g.proc = proc
	ready := func() bool {
		return dialOK(g.Addr()) && strings.Contains(proc.Log(), "became the coordinator registry leader")
	}
	if err := waitFor(90*time.Second, proc, ready); err != nil {
		log := proc.Log()
		g.Kill()
		return fmt.Errorf("weed mq.kafka.gateway on %s: %w\n%s", g.Addr(), err, tail(log, 3000))
	}
	return nil
}

// Kill sends SIGKILL to the gateway, as a crash would.
func (g *Gateway) Kill() {
	if g.proc != nil {
		g.proc.Kill()
		g.proc = nil
	}
}

// Stop stops the gateway gracefully (SIGTERM, then SIGKILL after 10 s).
func (g *Gateway) Stop() {
	if g.proc != nil {
		g.proc.Stop(10 * time.Second)
		g.proc = nil
	}
}

// Dead returns why the gateway is not serving, or "" when it is: not started, exited, crashed
// (a Go "fatal error:" or "panic:" in its log, whose goroutine dump can take a while to
// write), or not accepting connections. A crashed process still alive is killed.
func (g *Gateway) Dead() string {
	if g.proc == nil {
		return "not running"
	}
	if l := lines(g.proc.Log(), "fatal error:", "panic:"); len(l) > 0 {
		g.proc.Kill()
		return strings.TrimSpace(l[0])
	}
	select {
	case <-g.proc.exited:
		return fmt.Sprintf("exited: %v", g.proc.err)
	default:
	}
	if !dialOK(g.Addr()) {
		g.proc.Kill()
		return "not accepting connections"
	}
	return ""
}

// process is a child process whose output goes to a log file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

func startProcess(bin string, args []string, logPath, dir string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

// Log returns the process's output so far.
func (p *process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then kills it.
func (p *process) Stop(timeout time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
	}
}

// waitFor polls ready until it is true, the process exits, or timeout passes.
func waitFor(timeout time.Duration, p *process, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ready() {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %v", timeout)
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// removeSockets removes the unix sockets weed creates in the temporary directory, named after
// its ports.
func removeSockets(ports []int) {
	for _, p := range ports {
		matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "seaweedfs-*-"+strconv.Itoa(p)+".sock"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// environ is this process's environment without SENTRY_DSN, so weed reports nothing.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENTRY_DSN=") {
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

// lines returns the lines of s that start with any of the prefixes (the Go runtime starts
// its crash reports at the beginning of a line).
func lines(s string, prefixes ...string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	return out
}

// ctxSleep waits d or until ctx is done.
func ctxSleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
