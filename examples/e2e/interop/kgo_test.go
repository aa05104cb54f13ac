package interop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupMember is a kgo classic-group consumer with fetching paused (the gateway serves
// offsets, not records), reporting each assignment it gets.
type groupMember struct {
	cl       *kgo.Client
	assigned chan map[string][]int32
}

func joinGroup(t *testing.T, addr, group string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{assigned: make(chan map[string][]int32, 16)}
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics("t1"),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RetryTimeout(10 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			select {
			case m.assigned <- a:
			default: // nobody is waiting for this one
			}
		}),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	require.NoError(t, err)
	cl.PauseFetchTopics("t1")
	m.cl = cl
	t.Cleanup(cl.Close)
	return m
}

// waitAssigned waits until the member's latest assignment has n partitions of t1.
func (m *groupMember) waitAssigned(t *testing.T, n int) []int32 {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case a := <-m.assigned:
			if len(a["t1"]) == n {
				return a["t1"]
			}
		case <-deadline:
			t.Fatalf("no assignment of %d partitions", n)
		}
	}
}

func (m *groupMember) commit(t *testing.T, ctx context.Context, at map[int32]int64) {
	t.Helper()
	offs := map[string]map[int32]kgo.EpochOffset{"t1": {}}
	for p, o := range at {
		offs["t1"][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	m.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err != nil {
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					commitErr = e
				}
			}
		}
	})
	require.NoError(t, commitErr)
}

// rawCommit sends an OffsetCommit v9 (topics by name) on its own connection and returns the
// partition's error code.
func rawCommit(t *testing.T, addr, group, member string, gen int32, partition int32, offset int64) int16 {
	return rawCommitVersion(t, addr, 9, group, member, gen, partition, offset)
}

func rawCommitVersion(t *testing.T, addr string, version int16, group, member string, gen int32, partition int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t1"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := dialRaw(t, addr).do(req).(*kmsg.OffsetCommitResponse)
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, 1)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestKgoConsumerGroup runs franz-go's classic group consumer through the gateway's
// coordinator: join (with MEMBER_ID_REQUIRED), commit with the real generation, a second
// member's rebalance, a stale-generation commit refused with ILLEGAL_GENERATION, OffsetDelete
// refused for subscribed topics, leave, and a new member resuming from the committed offsets.
func TestKgoConsumerGroup(t *testing.T) {
	kgoGroupFlow(t, startGateway(t, nil, "t1:3"))
}

func kgoGroupFlow(t *testing.T, gw *gateway) {
	ctx := testContext(t)
	adm := newKadm(t, gw.addr)

	m1 := joinGroup(t, gw.addr, "cg")
	require.ElementsMatch(t, []int32{0, 1, 2}, m1.waitAssigned(t, 3))
	member1, gen1 := m1.cl.GroupMetadata()
	require.NotEmpty(t, member1)
	require.Positive(t, gen1)
	m1.commit(t, ctx, map[int32]int64{0: 42, 1: 43, 2: 44})

	fetched, err := adm.FetchOffsets(ctx, "cg")
	require.NoError(t, err)
	o, _ := fetched.Lookup("t1", 0)
	require.Equal(t, int64(42), o.At)
	require.Equal(t, member1, o.Metadata, "kgo commits its member id as metadata")

	// An admin commit (generation -1, no member) to an active group: UNKNOWN_MEMBER_ID.
	resp, err := adm.CommitOffsets(ctx, "cg", offsets("t1", map[int32]int64{0: 1}, ""))
	require.NoError(t, err)
	require.ErrorIs(t, resp.Error(), kerr.UnknownMemberID)
	// OffsetDelete of a topic the group is subscribed to: GROUP_SUBSCRIBED_TO_TOPIC.
	del, err := adm.DeleteOffsets(ctx, "cg", kadm.TopicsSet{"t1": {0: {}}})
	require.NoError(t, err)
	require.ErrorIs(t, del.Error(), kerr.GroupSubscribedToTopic)

	// A second member: the group rebalances to a new generation and splits the partitions.
	m2 := joinGroup(t, gw.addr, "cg")
	waitBalanced(t, adm, "cg", 2, 3)
	_, gen2 := m1.cl.GroupMetadata()
	require.Greater(t, gen2, gen1)

	// A commit with the old generation is refused; with the current one it is accepted.
	require.Equal(t, kerr.IllegalGeneration.Code, rawCommit(t, gw.addr, "cg", member1, gen1, 0, 7))
	require.Equal(t, kerr.UnknownMemberID.Code, rawCommit(t, gw.addr, "cg", "not-a-member", gen2, 0, 7))
	fetched, err = adm.FetchOffsets(ctx, "cg")
	require.NoError(t, err)
	o, _ = fetched.Lookup("t1", 0)
	require.Equal(t, int64(42), o.At, "refused commits stored nothing")

	// Both leave; the group is Empty and keeps its offsets.
	m2.cl.Close()
	m1.cl.Close()
	require.Eventually(t, func() bool {
		d, err := adm.DescribeGroups(ctx, "cg")
		return err == nil && d["cg"].State == "Empty"
	}, 20*time.Second, 50*time.Millisecond)

	// The group is Empty now: its old member's commit is UNKNOWN_MEMBER_ID (Kafka checks the
	// member before the generation), while an admin commit would be accepted.
	require.Equal(t, kerr.UnknownMemberID.Code, rawCommit(t, gw.addr, "cg", member1, gen2, 0, 7))

	// A new member resumes from the committed offsets.
	m3 := joinGroup(t, gw.addr, "cg")
	m3.waitAssigned(t, 3)
	var committed map[string]map[int32]kgo.EpochOffset
	require.Eventually(t, func() bool {
		committed = m3.cl.CommittedOffsets()
		return len(committed["t1"]) == 3
	}, 20*time.Second, 10*time.Millisecond, "kgo never fetched the committed offsets")
	require.Equal(t, int64(42), committed["t1"][0].Offset)
	require.Equal(t, int64(43), committed["t1"][1].Offset)
	require.Equal(t, int64(44), committed["t1"][2].Offset)
	_, gen3 := m3.cl.GroupMetadata()
	require.Greater(t, gen3, gen2)
	m3.commit(t, ctx, map[int32]int64{0: 50})
	fetched, err = adm.FetchOffsets(ctx, "cg")
	require.NoError(t, err)
	o, _ = fetched.Lookup("t1", 0)
	require.Equal(t, int64(50), o.At)
}

// waitBalanced waits until the group is Stable with n members whose assignments cover the
// partitions of t1 exactly once. (kgo's default cooperative-sticky balancer can go through a
// Stable generation with a partial assignment before the follow-up rebalance completes it.)
func waitBalanced(t *testing.T, adm *kadm.Client, group string, n int, partitions int32) {
	t.Helper()
	var last string
	ok := assert.Eventually(t, func() bool {
		d, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("state %s, %d members", d[group].State, len(d[group].Members))
		if d[group].State != "Stable" || len(d[group].Members) != n {
			return false
		}
		seen := map[int32]int{}
		for _, m := range d[group].Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				return false
			}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					seen[p]++
				}
			}
		}
		last += fmt.Sprintf(", assigned %v", seen)
		if len(seen) != int(partitions) {
			return false
		}
		for _, c := range seen {
			if c != 1 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond)
	if !ok {
		t.Fatalf("group %s never balanced over %d members: %s", group, n, last)
	}
}

// TestKgoManyMembers: five consumers share eight partitions, each partition assigned exactly
// once; when three leave, the remaining two take over every partition.
func TestKgoManyMembers(t *testing.T) {
	gw := startGateway(t, nil, "t1:8")
	adm := newKadm(t, gw.addr)
	var members []*groupMember
	for range 5 {
		members = append(members, joinGroup(t, gw.addr, "many"))
	}
	waitBalanced(t, adm, "many", 5, 8)
	for _, m := range members[:3] {
		m.cl.Close()
	}
	waitBalanced(t, adm, "many", 2, 8)
}

// TestKgoStaticMember: a static member (group.instance.id) that restarts without leaving takes
// its place back; the old incarnation's member id is fenced (FENCED_INSTANCE_ID), and a commit
// with it is refused.
func TestKgoStaticMember(t *testing.T) {
	gw := startGateway(t, nil, "t1:3")
	adm := newKadm(t, gw.addr)
	m1 := joinGroup(t, gw.addr, "static", kgo.InstanceID("instance-a"))
	m1.waitAssigned(t, 3)
	old, oldGen := m1.cl.GroupMetadata()
	waitBalanced(t, adm, "static", 1, 3)
	// A static member does not send LeaveGroup on close: the group keeps it.
	m1.cl.Close()
	d, err := adm.DescribeGroups(context.Background(), "static")
	require.NoError(t, err)
	require.Len(t, d["static"].Members, 1)

	m2 := joinGroup(t, gw.addr, "static", kgo.InstanceID("instance-a"))
	m2.waitAssigned(t, 3)
	fresh, _ := m2.cl.GroupMetadata()
	require.NotEqual(t, old, fresh)
	waitBalanced(t, adm, "static", 1, 3)

	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation, req.InstanceID = "static", old, oldGen, kmsg.StringPtr("instance-a")
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t1", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
	resp := dialRaw(t, gw.addr).do(req).(*kmsg.OffsetCommitResponse)
	require.Equal(t, kerr.FencedInstanceID.Code, resp.Topics[0].Partitions[0].ErrorCode)
	m2.commit(t, testContext(t), map[int32]int64{0: 5})
}
