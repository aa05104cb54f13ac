package interop

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/ownership"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testLease = 10 * time.Second

// member is one in-process gateway of a cluster, with its ownership node driven by the test.
type member struct {
	addr  string
	srv   *server.Server
	node  *ownership.Node
	clock *testClock
	stop  func()
}

// startMember starts gateway id over store as a cluster member, on a free loopback port.
func startMember(t *testing.T, store offsetstore.Store, id int32) *member {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := &member{addr: ln.Addr().String(), clock: &testClock{now: time.Unix(1_000_000, 0)}}
	var srv atomic.Pointer[server.Server]
	m.node, err = ownership.Start(t.Context(), store, ownership.Options{
		NodeID: id, Addr: m.addr, Lease: testLease, Now: m.clock.Now, Manual: true, Logger: testLogger(),
		OnChange: func(ch ownership.Change) {
			if s := srv.Load(); s != nil {
				s.ClusterChanged(ch)
			}
		},
	})
	require.NoError(t, err)
	topics, err := server.ParseTopics("t1:3")
	require.NoError(t, err)
	m.srv, err = server.New(server.Options{Store: m.node.Store(), Cluster: m.node, Topics: topics, Logger: testLogger()})
	require.NoError(t, err)
	srv.Store(m.srv)
	done := make(chan error, 1)
	go func() { done <- m.srv.Serve(ln) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			require.NoError(t, m.srv.Close())
			require.NoError(t, <-done)
			m.node.Close()
		})
	}
	t.Cleanup(m.stop)
	return m
}

func syncAll(t *testing.T, ms ...*member) {
	t.Helper()
	for range 2 {
		for _, m := range ms {
			require.NoError(t, m.node.Sync(t.Context()))
			require.NoError(t, m.node.Ready(t.Context()))
		}
	}
}

// findCoordinators asks gateway addr, with one batched FindCoordinator v4, for the
// coordinators of groups.
func findCoordinators(t *testing.T, addr string, groups []string) map[string]int32 {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = groups
	resp := dialRaw(t, addr).do(req).(*kmsg.FindCoordinatorResponse)
	out := map[string]int32{}
	for _, c := range resp.Coordinators {
		require.Zero(t, c.ErrorCode, "FindCoordinator %q at %s", c.Key, addr)
		out[c.Key] = c.NodeID
	}
	return out
}

// TestClusterOfThreeGateways: three gateways on one store list each other in Metadata, give
// the same coordinator for every group, refuse the groups of others with NOT_COORDINATOR,
// and a kadm client bootstrapped at one of them commits and fetches every group at its
// coordinator.
func TestClusterOfThreeGateways(t *testing.T) {
	ctx := t.Context()
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	ms := []*member{startMember(t, store, 1), startMember(t, store, 2), startMember(t, store, 3)}
	syncAll(t, ms...)

	groups := make([]string, 30)
	for i := range groups {
		groups[i] = fmt.Sprintf("cluster-group-%d", i)
	}
	var first map[string]int32
	for _, m := range ms {
		cl, err := kgo.NewClient(kgo.SeedBrokers(m.addr))
		require.NoError(t, err)
		meta, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		cl.Close()
		require.NoError(t, err)
		require.Len(t, meta.Brokers, 3, "Metadata at %s", m.addr)
		require.Equal(t, server.ClusterID, meta.Cluster)

		got := findCoordinators(t, m.addr, groups)
		if first == nil {
			first = got
		}
		require.Equal(t, first, got, "FindCoordinator at %s", m.addr)
	}
	used := map[int32]bool{}
	for _, id := range first {
		used[id] = true
	}
	require.Len(t, used, 3, "30 groups all landed on fewer than three gateways: %v", first)

	// One client, bootstrapped at gateway 1, commits to and fetches from every coordinator.
	cl, err := kgo.NewClient(kgo.SeedBrokers(ms[0].addr))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for i, g := range groups {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "t1", Partition: int32(i % 3), At: int64(100 + i), LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, g, offs)
		require.NoError(t, err)
		require.NoError(t, resp.Error(), "commit %q", g)
	}
	for i, g := range groups {
		fetched, err := adm.FetchOffsets(ctx, g)
		require.NoError(t, err)
		o, ok := fetched.Lookup("t1", int32(i%3))
		require.True(t, ok, "fetch %q", g)
		require.Equal(t, int64(100+i), o.At)
	}

	// A gateway that does not coordinate a group answers NOT_COORDINATOR for offsets and
	// membership alike.
	g := groups[0]
	owner := first[g]
	other := ms[owner%3] // the member with id owner%3+1, not the owner
	raw := dialRaw(t, other.addr)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 8, g, -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t1"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Offset = 5
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	cresp := raw.do(commit).(*kmsg.OffsetCommitResponse)
	require.Equal(t, kerr.NotCoordinator.Code, cresp.Topics[0].Partitions[0].ErrorCode)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group = g
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{fg}
	fresp := raw.do(fetch).(*kmsg.OffsetFetchResponse)
	require.Equal(t, kerr.NotCoordinator.Code, fresp.Groups[0].ErrorCode)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.SessionTimeoutMillis, join.ProtocolType = 5, g, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}
	jresp := raw.do(join).(*kmsg.JoinGroupResponse)
	require.Equal(t, kerr.NotCoordinator.Code, jresp.ErrorCode)
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{g}
	dresp := raw.do(desc).(*kmsg.DescribeGroupsResponse)
	require.Equal(t, kerr.NotCoordinator.Code, dresp.Groups[0].ErrorCode)
}

// TestClusterFailover: when a gateway stalls (it keeps running but its lease runs out on the
// others' clocks), the others take its groups with every offset, and the stalled gateway's
// late commit gets a retriable error and lands nothing; when a gateway leaves, its groups move
// at the next round; a gateway that comes back takes its share again.
func TestClusterFailover(t *testing.T) {
	ctx := t.Context()
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	ms := []*member{startMember(t, store, 1), startMember(t, store, 2), startMember(t, store, 3)}
	syncAll(t, ms...)
	groups := make([]string, 24)
	for i := range groups {
		groups[i] = fmt.Sprintf("failover-%d", i)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ms[0].addr, ms[1].addr, ms[2].addr))
	require.NoError(t, err)
	defer func() { cl.Close() }()
	adm := kadm.NewClient(cl)
	commitAll := func(base int64) {
		t.Helper()
		start := time.Now()
		defer func() { t.Logf("commitAll(%d) took %v", base, time.Since(start)) }()
		for i, g := range groups {
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "t1", Partition: 0, At: base + int64(i), LeaderEpoch: -1})
			resp, err := adm.CommitOffsets(ctx, g, offs)
			require.NoError(t, err)
			require.NoError(t, resp.Error(), "commit %q", g)
		}
	}
	fetchAll := func(base int64) {
		t.Helper()
		start := time.Now()
		defer func() { t.Logf("fetchAll(%d) took %v", base, time.Since(start)) }()
		for i, g := range groups {
			fetched, err := adm.FetchOffsets(ctx, g)
			require.NoError(t, err)
			o, ok := fetched.Lookup("t1", 0)
			require.True(t, ok, "fetch %q", g)
			require.Equal(t, base+int64(i), o.At, "group %q", g)
		}
	}
	commitAll(100)

	// Gateway 2 stalls: its clock stops, it syncs no more, but it still answers.
	var stalled string
	for _, g := range groups {
		if m, _ := ms[0].node.Coordinator(g); m.ID == 2 {
			stalled = g
			break
		}
	}
	require.NotEmpty(t, stalled)
	ms[0].clock.add(testLease + time.Second)
	ms[2].clock.add(testLease + time.Second)
	syncAll(t, ms[0], ms[2])
	require.Len(t, ms[0].node.Members(), 2)
	fetchAll(100)
	commitAll(200)
	fetchAll(200)

	// The stalled gateway still believes it owns its groups; its late commit is refused by
	// the store with a retriable error.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 8, stalled, -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t1"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Offset = 999
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	cresp := dialRaw(t, ms[1].addr).do(commit).(*kmsg.OffsetCommitResponse)
	code := cresp.Topics[0].Partitions[0].ErrorCode
	require.NotZero(t, code, "the stalled gateway acknowledged a commit after its groups moved")
	require.True(t, kerr.IsRetriable(kerr.ErrorForCode(code)), "code %d is not retriable", code)
	fetchAll(200)

	// Gateway 3 leaves cleanly: gateway 1 takes everything at its next round.
	ms[2].stop()
	syncAll(t, ms[0])
	require.Len(t, ms[0].node.OwnedShards(), ownership.DefaultShards)
	cl.Close() // a client that knew gateway 3 as a coordinator cannot dial it any more
	cl, err = kgo.NewClient(kgo.SeedBrokers(ms[0].addr))
	require.NoError(t, err)
	adm = kadm.NewClient(cl)
	fetchAll(200)

	// Gateway 2 resumes: it renews, learns it lost its shards, and gets half back.
	ms[1].clock.add(testLease + time.Second)
	syncAll(t, ms[1], ms[0], ms[1])
	require.Len(t, ms[1].node.OwnedShards(), ownership.DefaultShards/2)
	fetchAll(200)
	commitAll(300)
	fetchAll(300)
}

// rawJoinSync joins group at addr as a new single member (JoinGroup v3, SyncGroup v3) and
// returns its member id and generation.
func rawJoinSync(t *testing.T, addr, group string) (string, int32) {
	t.Helper()
	c := dialRaw(t, addr)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.ProtocolType = 3, group, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 0}}}
	jr := c.do(join).(*kmsg.JoinGroupResponse)
	require.Zero(t, jr.ErrorCode, "JoinGroup %q at %s", group, addr)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version, sync.Group, sync.Generation, sync.MemberID = 3, group, jr.Generation, jr.MemberID
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}
	sr := c.do(sync).(*kmsg.SyncGroupResponse)
	require.Zero(t, sr.ErrorCode, "SyncGroup %q at %s", group, addr)
	return jr.MemberID, jr.Generation
}

// TestClusterGroupMovesAway: a gateway that loses a group's shard forgets the group's members
// and generation, and when the shard comes back it loads the group from the store: a member of
// the old generation, which another gateway rebalanced away meanwhile, cannot commit there.
func TestClusterGroupMovesAway(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	a := startMember(t, store, 1)
	// A group in the upper half of the shards, which a releases when a second member joins.
	var g string
	for i := 0; g == ""; i++ {
		if cand := fmt.Sprintf("moving-%d", i); a.node.ShardOf(cand) >= ownership.DefaultShards/2 {
			g = cand
		}
	}
	oldMember, oldGen := rawJoinSync(t, a.addr, g)
	require.Zero(t, rawCommitVersion(t, a.addr, 7, g, oldMember, oldGen, 0, 10))

	b := startMember(t, store, 2)
	syncAll(t, a, b)
	m, ok := a.node.Coordinator(g)
	require.True(t, ok)
	require.Equal(t, int32(2), m.ID, "group %q did not move to the second gateway", g)
	newMember, newGen := rawJoinSync(t, b.addr, g)
	require.Greater(t, newGen, oldGen, "the new coordinator did not continue the group's generations")
	require.Zero(t, rawCommitVersion(t, b.addr, 7, g, newMember, newGen, 0, 20))

	b.stop() // the second gateway leaves: the group comes back to the first
	syncAll(t, a)
	require.True(t, a.node.Owns(g))
	code := rawCommitVersion(t, a.addr, 7, g, oldMember, oldGen, 0, 99)
	require.NotZero(t, code, "a member of a generation rebalanced away committed at the gateway that got the group back")
	fetched, err := newKadm(t, a.addr).FetchOffsets(testContext(t), g)
	require.NoError(t, err)
	o, _ := fetched.Lookup("t1", 0)
	require.Equal(t, int64(20), o.At)
}
