// Command bench measures the example gateway's connection loop against franz-go's kfake, on
// the same load, side by side in one run, and prints the table of the README's "Measured"
// section: throughput and server CPU per request for each operation and client count, their
// ratios, and the floor of a bare echo loop on the same load.
//
// Every server runs in its own child process (this program, re-executed with -serve), so its
// CPU time is read from /proc/<pid>/stat; the clients run in this process. The load is kadm
// clients, each with its own connection, cycling over -groups groups, -partitions partitions
// a request: OffsetCommit ("commit") or OffsetFetch of the whole group ("fetch"). Targets take
// turns within each (operation, clients) cell, -rounds times, and the median of the rounds is
// reported, which damps the noise of a shared machine.
//
// Usage:
//
//	go run -C examples ./e2e/bench [flags]
//
// Flags:
//
//	-ops string        operations, comma separated (default "commit,fetch")
//	-clients string    client counts, comma separated (default "1,8")
//	-targets string    servers (default "gateway,kfake,echo"); name=path adds the gateway of
//	                   the bench binary at path (another build) as target name
//	-groups int        groups the clients cycle over (default 16)
//	-partitions int    partitions a request (default 8)
//	-duration duration load per target and cell and round (default 2s)
//	-rounds int        rounds per cell; the median is reported (default 3)
//	-readme string     README to regenerate between the bench markers (default: print only)
//	-profile string    directory for pprof CPU and block profiles of each server
//
// The table is printed as Markdown on stdout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

type config struct {
	ops, targets         []string
	clients              []int
	groups, partitions   int
	duration             time.Duration
	rounds, serverProcs  int
	readme, profile      string
	serve, topics        string
	cpuProfile, blockOut string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var ops, clients, targets string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&ops, "ops", "commit,fetch", "operations, comma separated")
	fs.StringVar(&clients, "clients", "1,8", "client counts, comma separated")
	fs.StringVar(&targets, "targets", "gateway,kfake,echo", "servers, comma separated")
	fs.IntVar(&c.groups, "groups", 16, "groups the clients cycle over")
	fs.IntVar(&c.partitions, "partitions", 8, "partitions a request")
	fs.DurationVar(&c.duration, "duration", 2*time.Second, "load per target, cell and round")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds per cell; the median is reported")
	fs.IntVar(&c.serverProcs, "server-procs", 0, "GOMAXPROCS of the servers (default: the Go runtime's)")
	fs.StringVar(&c.readme, "readme", "", "README to regenerate between the bench markers")
	fs.StringVar(&c.profile, "profile", "", "directory for pprof CPU and block profiles of each server")
	fs.StringVar(&c.serve, "serve", "", "internal: serve this target as a child process")
	fs.StringVar(&c.topics, "topics", "", "internal: topics of the child")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "internal: CPU profile of the child")
	fs.StringVar(&c.blockOut, "blockprofile", "", "internal: block profile of the child")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.ops = strings.Split(ops, ",")
	c.targets = strings.Split(targets, ",")
	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return c, fmt.Errorf("-clients: bad count %q", s)
		}
		c.clients = append(c.clients, n)
	}
	for _, op := range c.ops {
		if op != "commit" && op != "fetch" {
			return c, fmt.Errorf("-ops: unknown operation %q", op)
		}
	}
	if c.groups < 1 || c.partitions < 1 || c.rounds < 1 || c.duration <= 0 {
		return c, errors.New("-groups, -partitions, -rounds and -duration must be positive")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.serve != "" {
		return serveChild(cfg.serve, cfg.topics, cfg.cpuProfile, cfg.blockOut)
	}
	res, err := measureAll(cfg, stderr)
	if err != nil {
		return err
	}
	table := render(cfg, res)
	fmt.Fprint(stdout, table)
	if cfg.readme != "" {
		return rewriteReadme(cfg.readme, table)
	}
	return nil
}

// child is a server in its own process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startChild starts the server of target; a target name=path is the gateway of the bench
// binary at path (an older build, say), reported as name.
func startChild(cfg config, target string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	serve := target
	if name, path, ok := strings.Cut(target, "="); ok {
		target, exe, serve = name, path, "gateway"
	}
	args := []string{"-serve", serve, "-topics", fmt.Sprintf("t1:%d", cfg.partitions)}
	if cfg.profile != "" {
		args = append(args,
			"-cpuprofile", filepath.Join(cfg.profile, target+".cpu.pprof"),
			"-blockprofile", filepath.Join(cfg.profile, target+".block.pprof"))
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	if cfg.serverProcs > 0 {
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", cfg.serverProcs))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s: no address from the child: %w", target, err)
	}
	return &child{cmd: cmd, stdin: stdin, addr: strings.TrimSpace(line)}, nil
}

func (c *child) stop() error {
	c.stdin.Close()
	return c.cmd.Wait()
}

// cpuTime is the user+system CPU time of process pid so far, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; fields after it are
	// space separated: state is field 3, utime field 14, stime field 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// sample is one measured load on one target.
type sample struct {
	perSec float64       // requests per second
	cpu    time.Duration // server CPU per request
}

type cellKey struct {
	op      string
	clients int
	target  string
}

func measureAll(cfg config, log io.Writer) (map[cellKey]sample, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("server CPU is read from /proc: Linux only")
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return nil, err
		}
	}
	children := make(map[string]*child)
	defer func() {
		for _, c := range children {
			_ = c.stop()
		}
	}()
	for i, t := range cfg.targets {
		c, err := startChild(cfg, t)
		if err != nil {
			return nil, err
		}
		t, _, _ = strings.Cut(t, "=")
		cfg.targets[i] = t
		children[t] = c
	}
	out := make(map[cellKey]sample)
	for _, op := range cfg.ops {
		for _, n := range cfg.clients {
			rounds := make(map[string][]sample)
			loads := make(map[string]*load)
			for _, t := range cfg.targets {
				l, err := newLoad(children[t].addr, op, n, cfg.groups, cfg.partitions)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", t, err)
				}
				defer l.close()
				loads[t] = l
			}
			for range cfg.rounds {
				for _, t := range cfg.targets {
					s, err := loads[t].measure(children[t].cmd.Process.Pid, cfg.duration)
					if err != nil {
						return nil, fmt.Errorf("%s %s clients=%d: %w", t, op, n, err)
					}
					fmt.Fprintf(log, "%-7s %-6s clients=%d  %8.0f req/s  %6.1f µs CPU/req\n", t, op, n, s.perSec, us(s.cpu))
					rounds[t] = append(rounds[t], s)
				}
			}
			for t, ss := range rounds {
				out[cellKey{op, n, t}] = median(ss)
			}
			for _, l := range loads {
				l.close()
			}
		}
	}
	return out, nil
}

func median(ss []sample) sample {
	tp := make([]float64, len(ss))
	cpu := make([]time.Duration, len(ss))
	for i, s := range ss {
		tp[i], cpu[i] = s.perSec, s.cpu
	}
	slices.Sort(tp)
	slices.Sort(cpu)
	return sample{perSec: tp[len(tp)/2], cpu: cpu[len(cpu)/2]}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// load is a set of kadm clients against one server.
type load struct {
	op                 string
	groups, partitions int
	adms               []*kadm.Client
	offset             atomic.Int64
	closeOnce          sync.Once
}

func newLoad(addr, op string, clients, groups, partitions int) (*load, error) {
	l := &load{op: op, groups: groups, partitions: partitions}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			l.close()
			return nil, err
		}
		l.adms = append(l.adms, kadm.NewClient(cl))
	}
	// Warm up every client on every group: connections, ApiVersions, Metadata,
	// FindCoordinator, and committed offsets for the fetches to return.
	for i := range l.adms {
		for g := range groups {
			if op == "fetch" {
				if err := l.commit(ctx, i, g); err != nil {
					l.close()
					return nil, err
				}
			}
			if err := l.request(ctx, i, g); err != nil {
				l.close()
				return nil, err
			}
		}
	}
	return l, nil
}

func (l *load) close() {
	l.closeOnce.Do(func() {
		for _, a := range l.adms {
			a.Close()
		}
	})
}

func (l *load) group(g int) string { return fmt.Sprintf("bench-%d", g%l.groups) }

func (l *load) commit(ctx context.Context, client, g int) error {
	// Few distinct offsets, so that the echo floor's replayed answers cover the load.
	at := l.offset.Add(1) % 4
	offs := make(kadm.Offsets)
	for p := range l.partitions {
		offs.Add(kadm.Offset{Topic: "t1", Partition: int32(p), At: at, LeaderEpoch: -1})
	}
	resp, err := l.adms[client].CommitOffsets(ctx, l.group(g), offs)
	if err != nil {
		return err
	}
	return resp.Error()
}

func (l *load) request(ctx context.Context, client, g int) error {
	if l.op == "commit" {
		return l.commit(ctx, client, g)
	}
	resp, err := l.adms[client].FetchOffsets(ctx, l.group(g))
	if err != nil {
		return err
	}
	if err := resp.Error(); err != nil {
		return err
	}
	if n := len(resp["t1"]); n != l.partitions {
		return fmt.Errorf("fetch of %s: %d partitions, want %d", l.group(g), n, l.partitions)
	}
	return nil
}

// measure runs the load for d and returns its throughput and the server's CPU per request.
func (l *load) measure(pid int, d time.Duration) (sample, error) {
	ctx := context.Background()
	var (
		count    atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	for i := range l.adms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := i; !stop.Load(); g++ {
				if err := l.request(ctx, i, g); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return sample{}, err
	}
	if firstErr != nil {
		return sample{}, firstErr
	}
	n := count.Load()
	if n == 0 {
		return sample{}, errors.New("no request completed")
	}
	return sample{perSec: float64(n) / elapsed.Seconds(), cpu: (cpu1 - cpu0) / time.Duration(n)}, nil
}
