package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterTopic is the topic the cluster run's clients commit to.
const clusterTopic = "cluster"

// clusterConfig configures a cluster run.
type clusterConfig struct {
	Weed       *weedtest.Server
	GatewayBin string
	Root       string
	Gateways   int           // gateway processes, node ids 1..Gateways
	Groups     int           // groups; each has two committers, on different partitions
	Duration   time.Duration // how long the clients commit in each phase
	Lease      time.Duration // the gateways' -lease
	Logf       func(format string, args ...any)
}

// clusterFault is one fault of a cluster run.
type clusterFault struct {
	Kind     string // "SIGKILL and restart" or "SIGSTOP and SIGCONT"
	Node     int32
	Keys     int           // keys whose group the node coordinated before the fault
	Failover time.Duration // from the fault to the last of those keys acknowledged again
}

// clusterReport is the outcome of a cluster run.
type clusterReport struct {
	Gateways, Groups, Keys int
	Lease                  time.Duration
	Acked, Refused         int64
	Stale                  int64 // a fetch after an acknowledgement found an older value
	Lost                   int   // read back older than the last acknowledgement
	LostKeys               []string
	Faults                 []clusterFault
	Agreed                 bool // every gateway named the same coordinator for every group
	Spread                 int  // gateways coordinating at least one group before the faults
}

// clusterLoad is the committers of a cluster run.
type clusterLoad struct {
	acked, refused, stale atomic.Int64

	mu       sync.Mutex
	last     map[string]int64
	lastTime map[string]time.Time
}

func (l *clusterLoad) lastAcked(key string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastTime[key]
}

// committer is the only writer of (group, part): it commits increasing offsets through a kgo
// client bootstrapped at seeds (its own gateway first), which finds the coordinator itself, and fetches after every
// acknowledgement.
func (l *clusterLoad) committer(ctx context.Context, seeds []string, group string, part int32) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(3*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	key := group + "/" + strconv.Itoa(int(part))
	for v := int64(1); ctx.Err() == nil; v++ {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: clusterTopic, Partition: part, At: v, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			if ctx.Err() == nil {
				l.refused.Add(1)
				sleep(ctx, 50*time.Millisecond)
			}
			continue
		}
		l.acked.Add(1)
		l.mu.Lock()
		l.last[key], l.lastTime[key] = v, time.Now()
		l.mu.Unlock()
		if fetched, err := adm.FetchOffsets(ctx, group); err == nil && fetched.Error() == nil {
			if o, ok := fetched.Lookup(clusterTopic, part); ok && o.At < v {
				l.stale.Add(1)
			}
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// coordinatorsAt asks the gateway at addr for the coordinators of groups (FindCoordinator v4).
func coordinatorsAt(addr string, groups []string) (map[string]int32, error) {
	c, err := dialKafka(addr, "reliability-cluster", 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = groups
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	out := map[string]int32{}
	for _, co := range resp.(*kmsg.FindCoordinatorResponse).Coordinators {
		out[co.Key] = co.NodeID
	}
	return out, nil
}

// settled waits until every gateway names the same live coordinator for every group, and
// the answer holds for half a lease (long enough for the members to balance the shards).
func settled(ctx context.Context, gws []*gatewayProc, groups []string, lease time.Duration) (map[string]int32, error) {
	agreed := func() map[string]int32 {
		first, err := coordinatorsAt(gws[0].addr, groups)
		if err != nil {
			return nil
		}
		for _, id := range first {
			if id < 0 {
				return nil
			}
		}
		for _, gw := range gws[1:] {
			if other, err := coordinatorsAt(gw.addr, groups); err != nil || fmt.Sprint(other) != fmt.Sprint(first) {
				return nil
			}
		}
		return first
	}
	deadline := time.Now().Add(60 * time.Second)
	var prev map[string]int32
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cur := agreed()
		if cur != nil && prev != nil && fmt.Sprint(cur) == fmt.Sprint(prev) {
			return cur, nil
		}
		prev = cur
		sleep(ctx, lease/2)
	}
	return nil, fmt.Errorf("the gateways did not agree on the coordinators within 60 s")
}

// runCluster runs cfg.Gateways gateway processes on one filer root as a cluster, with two
// committers per group bootstrapped at different gateways; it SIGKILLs the coordinator of the
// first group and restarts it, then SIGSTOPs another gateway for twice the lease and resumes
// it, and reads every key back.
func runCluster(ctx context.Context, cfg clusterConfig) (*clusterReport, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	flags := func(id int) []string {
		return []string{"-store", "filer", "-filer", cfg.Weed.Addr(), "-filer-root", cfg.Root,
			"-topics", clusterTopic + ":2", "-lease", cfg.Lease.String(), "-node-id", strconv.Itoa(id), "-log-level", "info"}
	}
	gws := make([]*gatewayProc, cfg.Gateways)
	defer func() {
		for _, gw := range gws {
			if gw != nil && gw.running() {
				_ = gw.cmd.Process.Signal(syscall.SIGCONT)
				_ = gw.stop()
			}
		}
	}()
	for i := range gws {
		gw, err := startGateway(ctx, cfg.GatewayBin, flags(i+1)...)
		if err != nil {
			return nil, err
		}
		gws[i] = gw
	}
	groups := make([]string, cfg.Groups)
	for i := range groups {
		groups[i] = fmt.Sprintf("cluster-%03d", i)
	}
	rep := &clusterReport{Gateways: cfg.Gateways, Groups: cfg.Groups, Keys: 2 * cfg.Groups, Lease: cfg.Lease}
	coords, err := settled(ctx, gws, groups, cfg.Lease)
	if err != nil {
		return nil, err
	}
	rep.Agreed = true
	spread := map[int32]bool{}
	for _, id := range coords {
		spread[id] = true
	}
	rep.Spread = len(spread)

	l := &clusterLoad{last: map[string]int64{}, lastTime: map[string]time.Time{}}
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i, g := range groups {
		for part := range int32(2) {
			var seeds []string
			for k := range gws {
				seeds = append(seeds, gws[(i+int(part)+k)%len(gws)].addr)
			}
			wg.Go(func() { l.committer(loadCtx, seeds, g, part) })
		}
	}
	keysOf := func(node int32) []string {
		var keys []string
		for _, g := range groups {
			if coords[g] == node {
				keys = append(keys, g+"/0", g+"/1")
			}
		}
		return keys
	}
	failover := func(kind string, node int32, at time.Time) error {
		keys := keysOf(node)
		f := clusterFault{Kind: kind, Node: node, Keys: len(keys)}
		deadline := at.Add(90 * time.Second)
		for _, key := range keys {
			for !l.lastAcked(key).After(at) {
				if time.Now().After(deadline) || ctx.Err() != nil {
					var logs string
					for i, gw := range gws {
						if gw.running() {
							logs += fmt.Sprintf("\ngateway %d:\n%s", i+1, gw.logs())
						}
					}
					return fmt.Errorf("%s of node %d: %s not acknowledged again within 90 s%s", kind, node, key, logs)
				}
				sleep(ctx, 20*time.Millisecond)
			}
			f.Failover = max(f.Failover, l.lastAcked(key).Sub(at))
		}
		rep.Faults = append(rep.Faults, f)
		logf("cluster: %s of node %d: its %d keys acknowledged again after %v", kind, node, len(keys), f.Failover)
		return nil
	}

	sleep(ctx, cfg.Duration)
	victim := coords[groups[0]]
	killed := time.Now()
	gws[victim-1].kill()
	if err := failover("SIGKILL", victim, killed); err != nil {
		return nil, err
	}
	if gws[victim-1], err = startGateway(ctx, cfg.GatewayBin, flags(int(victim))...); err != nil {
		return nil, err
	}
	if coords, err = settled(ctx, gws, groups, cfg.Lease); err != nil {
		return nil, err
	}
	sleep(ctx, cfg.Duration)

	paused := victim%int32(len(gws)) + 1
	if len(keysOf(paused)) == 0 {
		for id := int32(1); id <= int32(len(gws)); id++ {
			if len(keysOf(id)) > 0 && id != victim {
				paused = id
			}
		}
	}
	stopped := time.Now()
	_ = gws[paused-1].cmd.Process.Signal(syscall.SIGSTOP)
	if err := failover("SIGSTOP", paused, stopped); err != nil {
		return nil, err
	}
	sleep(ctx, 2*cfg.Lease)
	_ = gws[paused-1].cmd.Process.Signal(syscall.SIGCONT)
	if _, err = settled(ctx, gws, groups, cfg.Lease); err != nil {
		return nil, err
	}
	sleep(ctx, cfg.Duration)
	stop()
	wg.Wait()

	rep.Acked, rep.Refused, rep.Stale = l.acked.Load(), l.refused.Load(), l.stale.Load()
	cl, err := kgo.NewClient(kgo.SeedBrokers(gws[0].addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, g := range groups {
		fetched, err := adm.FetchOffsets(ctx, g)
		if err == nil {
			err = fetched.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("reading back %s: %w", g, err)
		}
		for part := range int32(2) {
			key := g + "/" + strconv.Itoa(int(part))
			if o, _ := fetched.Lookup(clusterTopic, part); o.At < l.last[key] {
				rep.Lost++
				rep.LostKeys = append(rep.LostKeys, fmt.Sprintf("%s: acknowledged %d, read back %d", key, l.last[key], o.At))
			}
		}
	}
	slices.Sort(rep.LostKeys)
	return rep, nil
}
