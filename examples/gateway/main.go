// Command gateway is a small Kafka-wire offset gateway: real Kafka clients (franz-go, Sarama,
// kafka-go, ...) commit, fetch and delete consumer offsets against it, and run classic consumer
// groups through it, while the offsets live in an offsetkit store: in memory (the default) or
// in a SeaweedFS filer.
//
// It shows how an embedding gateway wires offsetkit's protocol package into its own connection
// loop: see package examples/internal/server for the loop and package groupcoord (in the root
// module) for the group coordinator that plugs into protocol's membership hook.
//
// Usage:
//
//	go run -C examples ./gateway [flags]
//
// Flags:
//
//	-addr string         listen address (default "127.0.0.1:9092")
//	-store string        offset store: mem or filer (default "mem")
//	-filer string        filer gRPC address, for -store filer (default "127.0.0.1:18888")
//	-filer-root string   filer directory of the offsets (default: the SeaweedFS gateway's)
//	-topics string       topics served, as name:partitions[,...] (default "t1:3")
//	-log-level string    debug, info, warn or error (default "info")
//	-max-frame-bytes int largest request frame accepted (default 16 MiB)
//	-max-inflight-bytes int
//	                     bytes of large frames read or handled at once across all
//	                     connections (default 64 MiB; -1: no bound)
//	-offsets-retention duration
//	                     how long committed offsets are kept (Kafka's offsets.retention.minutes)
//	                     (default 168h0m0s)
//	-offsets-retention-check-interval duration
//	                     time between retention sweeps (default 10m0s)
//	-offsets-timeout duration
//	                     longest an offset request waits on the store before a retriable
//	                     error (Kafka's offsets.commit.timeout.ms) (default 5s)
//	-metrics-addr string loopback address of the Prometheus /metrics endpoint, such as
//	                     127.0.0.1:9644 (default: no metrics)
//	-advertise-addr string
//	                     address clients reach this gateway at, for the other gateways of a
//	                     cluster (default: -addr)
//	-node-id int         broker id of this gateway in a cluster, 1-1000 (default: the id last
//	                     registered at its advertised address, else one allocated through
//	                     the store, from 1001 up)
//	-lease duration      how long the other gateways of a cluster wait for a silent gateway
//	                     before they take its groups (default 10s)
//
// Gateways started with -store filer on the same filer and -filer-root form one cluster
// (package ownership): each registers in the filer, they divide the groups between them, every
// gateway lists all live gateways in Metadata and names the same coordinator for a group in
// FindCoordinator, and a gateway answers NOT_COORDINATOR for the groups of another. When a
// gateway stops (killed, paused, cut off), the others take its groups after -lease; writes
// it still sends are refused by the filer. With -store mem the gateway is alone, node 0.
//
// Offsets expire as in Kafka (see package retention): the gateway's group coordinator tells the
// retention sweeper which groups are Empty, Stable or rebalancing. Both stores support it.
//
// With -metrics-addr it serves Prometheus metrics (requests by API, version and error code,
// latency, store errors, open connections, expired offsets) at /metrics; see
// examples/internal/metrics and examples/README.md.
//
// It stops cleanly on SIGINT or SIGTERM: it stops accepting, closes every connection, stops
// the retention sweeper, and closes the store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/metrics"
	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/ownership"
	"github.com/offsetkit/offsetkit/retention"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// config is the parsed command line.
type config struct {
	addr, store, filer, filerRoot, topics, logLevel string
	metricsAddr                                     string
	maxFrame                                        int
	maxInFlight                                     int64
	retention, retentionCheck, offsetsTimeout       time.Duration
	advertiseAddr                                   string
	nodeID                                          int
	lease                                           time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:9092", "listen address")
	fs.StringVar(&c.store, "store", "mem", "offset store: mem or filer")
	fs.StringVar(&c.filer, "filer", "127.0.0.1:18888", "filer gRPC address, for -store filer")
	fs.StringVar(&c.filerRoot, "filer-root", "", "filer directory of the offsets (default: the SeaweedFS gateway's)")
	fs.StringVar(&c.topics, "topics", "t1:3", "topics served, as name:partitions[,...]")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&c.maxFrame, "max-frame-bytes", server.DefaultMaxFrameBytes, "largest request frame accepted")
	fs.Int64Var(&c.maxInFlight, "max-inflight-bytes", server.DefaultMaxInFlightBytes, "bytes of large request frames (over 64 KiB) read or handled at once across all connections (Kafka's queued.max.request.bytes); -1: no bound")
	fs.DurationVar(&c.retention, "offsets-retention", retention.DefaultRetention, "how long committed offsets are kept (Kafka's offsets.retention.minutes)")
	fs.DurationVar(&c.retentionCheck, "offsets-retention-check-interval", retention.DefaultInterval, "time between retention sweeps")
	fs.DurationVar(&c.offsetsTimeout, "offsets-timeout", server.DefaultOffsetsTimeout, "longest an offset request may wait on the store before a retriable error (Kafka's offsets.commit.timeout.ms)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "loopback address of the Prometheus /metrics endpoint, such as 127.0.0.1:9644 (default: no metrics)")
	fs.StringVar(&c.advertiseAddr, "advertise-addr", "", "address clients reach this gateway at, for the other gateways of a cluster (default: the address -addr listens on)")
	fs.IntVar(&c.nodeID, "node-id", 0, "broker id of this gateway in a cluster, 1-1000 (default: the id last registered at its advertised address, else one allocated through the store)")
	fs.DurationVar(&c.lease, "lease", ownership.DefaultLease, "how long the other gateways of a cluster wait for a silent gateway before they take its groups")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments: %q", fs.Args())
	case c.retention <= 0 || c.retentionCheck <= 0 || c.offsetsTimeout <= 0:
		err = errors.New("-offsets-retention, -offsets-retention-check-interval and -offsets-timeout must be positive")
	case c.nodeID < 0 || c.nodeID > ownership.MaxNodeID:
		err = fmt.Errorf("-node-id %d: want 1 to %d, or 0 to allocate one", c.nodeID, ownership.MaxNodeID)
	case c.lease <= 0:
		err = errors.New("-lease must be positive")
	case c.metricsAddr != "" && !isLoopback(c.metricsAddr):
		err = fmt.Errorf("-metrics-addr %q: want a loopback address, such as 127.0.0.1:9644", c.metricsAddr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
	}
	return c, err
}

// run is the whole program: it serves until ctx is done and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintf(stderr, "gateway: -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	topics, err := server.ParseTopics(cfg.topics)
	if err != nil {
		log.Error("bad -topics", "err", err)
		return 2
	}

	store, err := openStore(ctx, cfg, log.With("component", "store"))
	if err != nil {
		log.Error("opening store", "store", cfg.store, "err", err)
		return 1
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	// Listen before joining a cluster, so that the address the gateway advertises is the
	// one it listens on, even with port 0.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	defer ln.Close()
	// The server, made below, learns of shard changes once it exists; before, it loads what
	// its node owns when it starts.
	var srvRef atomic.Pointer[server.Server]
	onChange := func(ch ownership.Change) {
		if srv := srvRef.Load(); srv != nil {
			srv.ClusterChanged(ch)
		}
	}
	served, node, err := joinCluster(ctx, cfg, store, ln.Addr().String(), onChange, log.With("component", "cluster"))
	if err != nil {
		log.Error("joining the gateway cluster", "err", err)
		return 1
	}
	if node != nil {
		defer func() {
			if err := node.Close(); err != nil {
				log.Error("leaving the gateway cluster", "err", err)
			}
		}()
	}

	var obs server.Observer
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		m := metrics.New()
		obs = m
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			log.Error("metrics listen", "err", err)
			return 1
		}
		mctx, cancel := context.WithCancel(context.Background())
		metricsDone := make(chan error, 1)
		go func() { metricsDone <- m.Serve(mctx, metricsLn) }()
		defer func() {
			cancel()
			if err := <-metricsDone; err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
		log.Info("metrics listening", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}

	srv, err := server.New(server.Options{
		Store:            served,
		Cluster:          node,
		Topics:           topics,
		Logger:           log,
		MaxFrameBytes:    cfg.maxFrame,
		MaxInFlightBytes: cfg.maxInFlight,

		Retention:              cfg.retention,
		RetentionCheckInterval: cfg.retentionCheck,
		OffsetsTimeout:         cfg.offsetsTimeout,
		Observer:               obs,
	})
	if err != nil {
		log.Error("starting gateway", "err", err)
		return 1
	}
	srvRef.Store(srv)
	log.Info("gateway starting", "store", cfg.store, "topics", cfg.topics)

	serving := make(chan error, 1)
	go func() { serving <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		srv.Close()
		<-serving
		return 0
	case err := <-serving:
		log.Error("serve", "err", err)
		srv.Close()
		return 1
	}
}

// isLoopback reports whether addr (host:port) names a loopback host: localhost or a loopback
// IP. The metrics endpoint is unauthenticated, so it is not offered on other interfaces.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
