package interop

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterLoad is a load of committers, each the only writer of one partition of one group,
// each bootstrapped at one gateway of a cluster, counting what happens to their commits.
type clusterLoad struct {
	acked, refused atomic.Int64
	stale          atomic.Int64 // a fetch, after an acknowledgement, found an older value

	mu       sync.Mutex
	last     map[string]int64     // "group/partition" -> last acknowledged value
	lastTime map[string]time.Time // when it was acknowledged
}

// committer commits increasing offsets to (group, partition) through a client bootstrapped at
// addr until ctx ends, and fetches after every acknowledgement.
func (l *clusterLoad) committer(ctx context.Context, t *testing.T, addr, group string, part int32) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(3*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	key := group + "/" + strconv.Itoa(int(part))
	for v := int64(1); ctx.Err() == nil; v++ {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "t1", Partition: part, At: v, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			if ctx.Err() == nil {
				l.refused.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		l.acked.Add(1)
		l.mu.Lock()
		l.last[key], l.lastTime[key] = v, time.Now()
		l.mu.Unlock()
		fetched, err := adm.FetchOffsets(ctx, group)
		if err != nil || fetched.Error() != nil {
			continue // a fetch that fails says nothing
		}
		if o, ok := fetched.Lookup("t1", part); ok && o.At < v {
			l.stale.Add(1)
			t.Logf("stale read: %s acknowledged %d, then fetched %d", key, v, o.At)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastAcked returns when (group, partition) was last acknowledged.
func (l *clusterLoad) lastAcked(key string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastTime[key]
}

var nodeRE = regexp.MustCompile(`msg="joined the gateway cluster" component=cluster node=(\d+)`)

// clusterCoordinators returns, per group, the node id FindCoordinator names at addr.
func clusterCoordinators(t *testing.T, addr string, groups []string) map[string]int32 {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = groups
	resp := dialRaw(t, addr).do(req).(*kmsg.FindCoordinatorResponse)
	out := map[string]int32{}
	for _, c := range resp.Coordinators {
		out[c.Key] = c.NodeID
	}
	return out
}

// waitMembers waits until the gateway at addr lists n brokers in Metadata.
func waitMembers(t *testing.T, addr string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		return len(dialRaw(t, addr).do(req).(*kmsg.MetadataResponse).Brokers) == n
	}, 60*time.Second, 200*time.Millisecond, "gateway %s never listed %d brokers", addr, n)
}

// waitSettled waits until every gateway names the same live coordinator for every group, and
// returns them.
func waitSettled(t *testing.T, gws []*gatewayProc, groups []string) map[string]int32 {
	t.Helper()
	var coords map[string]int32
	require.Eventually(t, func() bool {
		coords = clusterCoordinators(t, gws[0].addr, groups)
		for _, id := range coords {
			if id < 0 {
				return false
			}
		}
		for _, gw := range gws[1:] {
			if fmt.Sprint(clusterCoordinators(t, gw.addr, groups)) != fmt.Sprint(coords) {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "the gateways never agreed on the coordinators")
	return coords
}

// waitFailover waits until every committer of a group that node coordinated before the fault
// has been acknowledged after it, and returns the longest wait.
func waitFailover(t *testing.T, l *clusterLoad, keys []string, fault time.Time) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, key := range keys {
		require.Eventually(t, func() bool { return l.lastAcked(key).After(fault) }, 60*time.Second, 50*time.Millisecond,
			"%s was not acknowledged again after the fault", key)
		worst = max(worst, l.lastAcked(key).Sub(fault))
	}
	return worst
}

// TestClusterProcesses runs three gateway processes on one real filer as a cluster, with
// committers bootstrapped at every gateway, a kgo consumer group whose members start at
// different gateways and Sarama, SIGKILLs the coordinator of some groups and restarts it,
// then SIGSTOPs another for longer than the lease and resumes it. Nothing acknowledged is
// lost, no fetch goes back before an acknowledged value, and the groups of a stopped gateway
// are served again within the lease and a few client retries.
func TestClusterProcesses(t *testing.T) {
	f := weedtest.Start(t)
	const lease = 3 * time.Second
	flags := func(id int) []string {
		return []string{"-store", "filer", "-filer", f.Addr(), "-topics", "t1:6", "-lease", lease.String(), "-node-id", strconv.Itoa(id)}
	}
	gws := []*gatewayProc{startProcess(t, flags(1)...), startProcess(t, flags(2)...), startProcess(t, flags(3)...)}
	t.Cleanup(func() {
		if t.Failed() {
			for i, gw := range gws {
				t.Logf("gateway %d log:\n%s", i+1, gw.logs())
			}
		}
	})
	for _, gw := range gws {
		waitMembers(t, gw.addr, 3)
	}

	groups := make([]string, 9)
	for i := range groups {
		groups[i] = fmt.Sprintf("proc-group-%d", i)
	}
	coords := waitSettled(t, gws, groups)

	l := &clusterLoad{last: map[string]int64{}, lastTime: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(testContext(t))
	var wg sync.WaitGroup
	for i, g := range groups {
		for part := range int32(2) {
			addr := gws[(i+int(part))%3].addr
			wg.Go(func() { l.committer(ctx, t, addr, g, part) })
		}
	}
	defer func() { cancel(); wg.Wait() }()

	// A kgo consumer group whose members are bootstrapped at different gateways.
	consumerGroup := func(a, b string, base int64) {
		t.Helper()
		m1, m2 := joinGroup(t, a, "proc-cg", kgo.RetryTimeout(30*time.Second), kgo.Balancers(kgo.RangeBalancer())), joinGroup(t, b, "proc-cg", kgo.RetryTimeout(30*time.Second), kgo.Balancers(kgo.RangeBalancer()))
		for _, m := range []*groupMember{m1, m2} {
			at := map[int32]int64{}
			for _, p := range m.waitAssigned(t, 3) {
				at[p] = base + int64(p)
			}
			m.commit(t, testContext(t), at)
		}
		m1.cl.Close()
		m2.cl.Close()
		fetched, err := newKadm(t, b).FetchOffsets(testContext(t), "proc-cg")
		require.NoError(t, err)
		for p := range int32(6) {
			o, ok := fetched.Lookup("t1", p)
			require.True(t, ok)
			require.Equal(t, base+int64(p), o.At)
		}
	}
	consumerGroup(gws[0].addr, gws[1].addr, 100)

	time.Sleep(2 * time.Second)
	keysOf := func(node int32) []string {
		var keys []string
		for _, g := range groups {
			if coords[g] == node {
				keys = append(keys, g+"/0", g+"/1")
			}
		}
		return keys
	}

	// SIGKILL the coordinator of groups[0]; restart it with the same node id.
	victim := coords[groups[0]]
	killed := time.Now()
	require.NoError(t, gws[victim-1].cmd.Process.Signal(syscall.SIGKILL))
	<-gws[victim-1].done
	killFailover := waitFailover(t, l, keysOf(victim), killed)
	t.Logf("SIGKILL of node %d: its groups were acknowledged again after at most %v", victim, killFailover)
	gws[victim-1] = startProcess(t, flags(int(victim))...)
	for _, gw := range gws {
		waitMembers(t, gw.addr, 3)
	}

	// SIGSTOP another gateway for twice the lease, then SIGCONT it.
	coords = waitSettled(t, gws, groups)
	paused := int32(victim%3 + 1)
	require.NotEmpty(t, keysOf(paused), "node %d coordinates none of the groups: %v", paused, coords)
	stopped := time.Now()
	require.NoError(t, gws[paused-1].cmd.Process.Signal(syscall.SIGSTOP))
	pauseFailover := waitFailover(t, l, keysOf(paused), stopped)
	t.Logf("SIGSTOP of node %d: its groups were acknowledged again after at most %v", paused, pauseFailover)
	time.Sleep(2 * lease)
	require.NoError(t, gws[paused-1].cmd.Process.Signal(syscall.SIGCONT))
	for _, gw := range gws {
		waitMembers(t, gw.addr, 3)
	}
	time.Sleep(2 * time.Second)

	// The consumer group again, its members at the restarted gateway and another, and Sarama,
	// through the cluster after the faults.
	consumerGroup(gws[victim-1].addr, gws[paused-1].addr, 200)
	scl := newSarama(t, gws[2].addr)
	om, err := sarama.NewOffsetManagerFromClient("proc-sarama", scl)
	require.NoError(t, err)
	pom, err := om.ManagePartition("t1", 3)
	require.NoError(t, err)
	pom.MarkOffset(4242, "sarama")
	om.Commit()
	require.NoError(t, pom.Close())
	require.NoError(t, om.Close())

	cancel()
	wg.Wait()

	// Every acknowledged value is what the cluster holds (or a later refused write of the same
	// committer that landed after all: never less).
	adm := newKadm(t, gws[0].addr)
	var lost int
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range groups {
		fetched, err := adm.FetchOffsets(testContext(t), g)
		require.NoError(t, err)
		for part := range int32(2) {
			key := g + "/" + strconv.Itoa(int(part))
			o, _ := fetched.Lookup("t1", part)
			if o.At < l.last[key] {
				lost++
				t.Errorf("%s: acknowledged %d, the cluster holds %d", key, l.last[key], o.At)
			}
		}
	}
	fetched, err := adm.FetchOffsets(testContext(t), "proc-sarama")
	require.NoError(t, err)
	o, ok := fetched.Lookup("t1", 3)
	require.True(t, ok)
	require.Equal(t, int64(4242), o.At)
	t.Logf("acknowledged %d, refused %d, lost %d, stale %d; failover after SIGKILL %v, after SIGSTOP %v",
		l.acked.Load(), l.refused.Load(), lost, l.stale.Load(), killFailover, pauseFailover)
	require.Zero(t, l.stale.Load(), "stale reads")
	require.Less(t, killFailover, 20*time.Second)
	require.Less(t, pauseFailover, 20*time.Second)
}
