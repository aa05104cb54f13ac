// Command reliability measures the example gateway and the offset stores under load, faults,
// hostile input and scale, and writes the figures as Markdown (the repository's
// RELIABILITY.md is its output):
//
//   - soak: concurrent raw Kafka-wire clients commit strictly increasing offsets through the
//     gateway binary (-store filer), and consumer groups of kgo members that leave and join
//     again commit theirs, while the weed process under it is SIGKILLed and restarted on the
//     same data directory several times and SIGSTOPped (a hung filer); afterwards every key is
//     read back through the gateway and every commit a client saw acknowledged must be there,
//     and no key may ever read older than its newest acknowledged offset (a stale overwrite),
//     neither at the end nor in the fetches made all along;
//   - hostile input: truncated frames, huge and negative sizes, null and negative array
//     counts, unknown keys and versions, oversized metadata, path-trick group names, seeded
//     random and mutated bytes; the gateway must answer or close each connection, keep serving
//     fresh ones, keep its memory bounded, and write nothing outside its filer root;
//   - cluster: three gateway processes on one filer root as a cluster, with committers
//     bootstrapped at every gateway, while the coordinator of a group is SIGKILLed and
//     restarted and another gateway is SIGSTOPped and resumed; nothing acknowledged may be
//     lost and no fetch may go back before an acknowledged value;
//   - scale: groups x partitions committed, fetched back (FetchAll) and listed, on memstore
//     and on filerstore.
//
// Everything runs on 127.0.0.1. It needs the weed binary: OFFSETKIT_WEED, or the cache that
// ./scripts/build-weed.sh fills (run it first if the command says the binary is missing).
//
// Usage:
//
//	go run -C examples ./e2e/reliability -out ../RELIABILITY.md
//
// The same checks, shorter, run as the package's tests in `go test -race ./...`. The command
// exits 1 if any check failed (a lost offset, a crash, a hang, a write outside the root),
// after writing the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/memstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	out                   string
	soak, down            time.Duration
	kills, clients, parts int
	pauses                int
	pauseFor, reqTimeout  time.Duration
	seed                  uint64
	random, flood         int
	groups, scaleParts    int
	filerConc             int
	clusterGroups         int
	clusterPhase          time.Duration
	clusterLease          time.Duration
	cgroups, members      int
	churn                 time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("reliability", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "write the Markdown report to this file (default: standard output)")
	fs.DurationVar(&o.soak, "soak", 60*time.Second, "how long the soak's clients commit")
	fs.IntVar(&o.kills, "kills", 3, "SIGKILLs of weed during the soak")
	fs.DurationVar(&o.down, "down", 2*time.Second, "how long weed stays dead after each kill")
	fs.IntVar(&o.pauses, "pauses", 2, "SIGSTOPs of weed (a hung filer) during the soak, after the kills")
	fs.DurationVar(&o.pauseFor, "pause-for", 8*time.Second, "how long weed stays stopped after the 1st, 3rd, ... SIGSTOP; the others last a quarter of it (shorter than the gateway's -offsets-timeout: writes are held, then applied)")
	fs.DurationVar(&o.reqTimeout, "request-timeout", 10*time.Second, "how long a soak client waits for an answer before it reconnects (longer than the gateway's 5 s -offsets-timeout, as Kafka clients' request.timeout.ms is)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent committing clients in the soak")
	fs.IntVar(&o.parts, "partitions", 4, "partitions per soak client")
	fs.IntVar(&o.cgroups, "consumer-groups", 3, "consumer groups of kgo members committing during the soak")
	fs.IntVar(&o.members, "members", 3, "kgo group members per consumer group (each leaves and joins again over the soak)")
	fs.DurationVar(&o.churn, "churn", time.Second, "time between two membership changes (a member leaving or joining) in the soak")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random and mutated hostile inputs")
	fs.IntVar(&o.random, "random", 1000, "hostile inputs of each random kind")
	fs.IntVar(&o.flood, "flood", 16, "concurrent 16 MiB frames in the memory measurement")
	fs.IntVar(&o.groups, "groups", 1000, "groups in the scale run")
	fs.IntVar(&o.scaleParts, "scale-partitions", 100, "partitions per group in the scale run")
	fs.IntVar(&o.filerConc, "filer-concurrency", 16, "concurrent store calls in the filerstore scale run")
	fs.IntVar(&o.clusterGroups, "cluster-groups", 12, "groups in the cluster run (two committers each)")
	fs.DurationVar(&o.clusterPhase, "cluster-phase", 10*time.Second, "how long the cluster run's clients commit between faults")
	fs.DurationVar(&o.clusterLease, "cluster-lease", 10*time.Second, "the -lease of the cluster run's gateways")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.soak <= 0 || o.clients <= 0 || o.parts <= 0 || o.reqTimeout <= 0 || o.churn <= 0:
		return o, errors.New("-soak, -clients, -partitions, -request-timeout and -churn must be positive")
	case o.cgroups < 0 || o.members <= 0:
		return o, errors.New("-consumer-groups must not be negative, -members must be positive")
	case o.kills < 0 || o.down < 0 || o.pauses < 0 || o.pauseFor < 0:
		return o, errors.New("-kills, -down, -pauses and -pause-for must not be negative")
	case o.clusterGroups <= 0 || o.clusterPhase <= 0 || o.clusterLease <= 0:
		return o, errors.New("-cluster-groups, -cluster-phase and -cluster-lease must be positive")
	case o.groups <= 0 || o.scaleParts <= 0 || o.filerConc <= 0 || o.random < 0 || o.flood < 0:
		return o, errors.New("-groups, -scale-partitions and -filer-concurrency must be positive, -random and -flood not negative")
	}
	return o, nil
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "reliability:", err)
		return 2
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", a...)
	}
	bin, err := weedtest.Binary()
	if err != nil {
		fmt.Fprintf(stderr, "reliability: %v\nBuild it with ./scripts/build-weed.sh (from the repository root) and run again.\n", err)
		return 1
	}
	r := &report{Args: append([]string{"reliability"}, args...), Started: time.Now().UTC(), Weed: bin, Machine: describeMachine(o.out), Opts: o}
	tmp, err := os.MkdirTemp("", "offsetkit-reliability-")
	if err != nil {
		fmt.Fprintln(stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	logf("building the gateway")
	gw, err := buildGateway(ctx, tmp, false)
	if err != nil {
		fmt.Fprintln(stderr, "reliability:", err)
		return 1
	}
	if err := measure(ctx, r, gw, logf); err != nil {
		r.Errors = append(r.Errors, err.Error())
		logf("error: %v", err)
	}
	r.Took = time.Since(r.Started)

	w := stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			fmt.Fprintln(stderr, "reliability:", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	if err := r.write(w); err != nil {
		fmt.Fprintln(stderr, "reliability:", err)
		return 1
	}
	if o.out != "" {
		logf("wrote %s", o.out)
	}
	if fails := r.failures(); len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintln(stderr, "FAIL:", f)
		}
		return 1
	}
	return 0
}

// measure runs the soak, the hostile corpus and the scale runs, filling r.
func measure(ctx context.Context, r *report, gw string, logf func(string, ...any)) error {
	o := r.Opts

	logf("soak: %d clients x %d partitions and %d consumer groups x %d members for %v, %d kills and %d pauses of weed", o.clients, o.parts, o.cgroups, o.members, o.soak, o.kills, o.pauses)
	soakWeed, err := weedtest.New(weedtest.Options{})
	if err != nil {
		return fmt.Errorf("starting weed for the soak: %w", err)
	}
	r.Soak, err = runSoak(ctx, soakConfig{Weed: soakWeed, GatewayBin: gw, Root: "/offsetkit-reliability/soak",
		Clients: o.clients, Partitions: o.parts, Duration: o.soak, Kills: o.kills, Down: o.down,
		Pauses: o.pauses, PauseFor: o.pauseFor, RequestTimeout: o.reqTimeout,
		Groups: o.cgroups, Members: o.members, Churn: o.churn, Seed: o.seed, Logf: logf})
	if cerr := stopWeed(soakWeed); err == nil && cerr != nil {
		err = fmt.Errorf("stopping the soak's weed: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}

	f, err := weedtest.New(weedtest.Options{})
	if err != nil {
		return fmt.Errorf("starting weed: %w", err)
	}
	defer stopWeed(f)
	logf("hostile input: seed %d, %d inputs of each random kind", o.seed, o.random)
	r.Hostile, err = runHostile(ctx, hostileConfig{Weed: f, GatewayBin: gw, Root: "/offsetkit-reliability/hostile",
		Seed: o.seed, Random: o.random, Flood: o.flood, Logf: logf})
	if err != nil {
		return fmt.Errorf("hostile input: %w", err)
	}

	logf("cluster: 3 gateways, %d groups, lease %v", o.clusterGroups, o.clusterLease)
	r.Cluster, err = runCluster(ctx, clusterConfig{Weed: f, GatewayBin: gw, Root: "/offsetkit-reliability/cluster",
		Gateways: 3, Groups: o.clusterGroups, Duration: o.clusterPhase, Lease: o.clusterLease, Logf: logf})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}

	logf("scale: memstore, %d groups x %d partitions", o.groups, o.scaleParts)
	mem := memstore.New(memstore.Options{})
	r.ScaleMem, err = runScale(ctx, scaleConfig{Store: mem, Groups: o.groups, Partitions: o.scaleParts, Concurrency: runtime.GOMAXPROCS(0)})
	mem.Close()
	if err != nil {
		return fmt.Errorf("scale on memstore: %w", err)
	}
	logf("scale: filerstore, %d groups x %d partitions, %d concurrent calls", o.groups, o.scaleParts, o.filerConc)
	fs, err := filerstore.Dial(ctx, f.Addr(), filerstore.Options{Root: "/offsetkit-reliability/scale"})
	if err != nil {
		return fmt.Errorf("scale on filerstore: %w", err)
	}
	defer fs.Close()
	r.ScaleFiler, err = runScale(ctx, scaleConfig{Store: fs, Groups: o.groups, Partitions: o.scaleParts, Concurrency: o.filerConc})
	if err != nil {
		return fmt.Errorf("scale on filerstore: %w", err)
	}
	return nil
}

// stopWeed kills weed and removes its data. A weed that has served traffic often ignores
// SIGTERM until weedtest's 15 s fallback to SIGKILL; its data is not needed any more.
func stopWeed(f *weedtest.Server) error {
	_ = f.Kill()
	return f.Close()
}
