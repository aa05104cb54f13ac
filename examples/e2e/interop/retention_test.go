package interop

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRetentionThroughGateway runs offset retention (KIP-211) end to end with a tiny
// retention and sweeps run on demand:
//   - a simple group's offsets expire by commit time: kadm fetches nothing and ListGroups
//     drops the group;
//   - a Stable consumer group with a live kgo member keeps the offsets of its subscribed
//     topic, while its offset of an unsubscribed topic expires;
//   - an Empty group's offsets outlive commit time + retention and expire retention after the
//     group became Empty; the coordinator then forgets the group.
func TestRetentionThroughGateway(t *testing.T) {
	const retention = 3 * time.Second
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	var expired expiryCounter
	gw := startGatewayOpts(t, server.Options{
		Store:                  store,
		Retention:              retention,
		RetentionCheckInterval: time.Hour, // the test sweeps itself
		Observer:               &expired,
	}, "t1:3,other:1")
	ctx := testContext(t)
	adm := newKadm(t, gw.addr)

	commitStart := time.Now()
	resp, err := adm.CommitOffsets(ctx, "simple", offsets("t1", map[int32]int64{0: 1, 1: 2}, ""))
	require.NoError(t, err)
	require.NoError(t, resp.Error())

	live := joinGroup(t, gw.addr, "live")
	live.waitAssigned(t, 3)
	live.commit(t, ctx, map[int32]int64{0: 10, 1: 11, 2: 12})
	liveMember, liveGen := live.cl.GroupMetadata()
	require.Zero(t, rawCommitTopic(t, gw.addr, "live", liveMember, liveGen, "other", 0, 99), "unsubscribed topic")

	empty := joinGroup(t, gw.addr, "empty")
	empty.waitAssigned(t, 3)
	empty.commit(t, ctx, map[int32]int64{0: 20})

	// Let every commit age past the retention, then empty the "empty" group.
	time.Sleep(time.Until(commitStart.Add(retention + 200*time.Millisecond)))
	beforeLeave := time.Now()
	empty.cl.Close()
	require.Eventually(t, func() bool {
		d, err := adm.DescribeGroups(ctx, "empty")
		return err == nil && d["empty"].State == "Empty"
	}, 20*time.Second, 20*time.Millisecond)

	_, err = gw.srv.SweepOffsets(ctx)
	require.NoError(t, err)
	require.Empty(t, fetchAll(t, adm, "simple"), "simple group: expired by commit time")
	require.NotContains(t, listGroups(t, adm), "simple")
	require.Equal(t, map[string]int64{"t1/0": 10, "t1/1": 11, "t1/2": 12}, fetchAll(t, adm, "live"),
		"Stable group: subscribed offsets kept, the unsubscribed one expired")
	require.Equal(t, map[string]int64{"t1/0": 20}, fetchAll(t, adm, "empty"),
		"Empty group: the clock starts when it became Empty, not at the commit")
	require.Contains(t, listGroups(t, adm), "empty")
	require.Equal(t, int64(3), expired.Load(), "two simple offsets and one unsubscribed")

	require.Eventually(t, func() bool {
		_, err := gw.srv.SweepOffsets(ctx)
		return err == nil && len(fetchAll(t, adm, "empty")) == 0
	}, 20*time.Second, 100*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(beforeLeave), retention, "expired no earlier than retention after Empty")
	require.NotContains(t, listGroups(t, adm), "empty", "the coordinator forgot the group with its offsets")
	d, err := adm.DescribeGroups(ctx, "empty")
	require.NoError(t, err)
	require.ErrorIs(t, d["empty"].Err, kerr.GroupIDNotFound)
	require.Equal(t, int64(4), expired.Load())

	// The live group kept its subscribed offsets through every sweep.
	require.Len(t, fetchAll(t, adm, "live"), 3)
	require.Contains(t, listGroups(t, adm), "live")
}

// TestRetentionOffWithoutExpirer: a store without offsetstore.Expirer serves normally and
// SweepOffsets reports errors.ErrUnsupported.
func TestRetentionOffWithoutExpirer(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	gw := startGatewayOpts(t, server.Options{Store: noExpiry{store}}, "t1:3,t2:2")
	_, err := gw.srv.SweepOffsets(context.Background())
	require.ErrorIs(t, err, errors.ErrUnsupported)
	kadmOffsetsFlow(t, gw)
}

// fetchAll returns a group's committed offsets as "topic/partition" -> offset.
func fetchAll(t *testing.T, adm *kadm.Client, group string) map[string]int64 {
	t.Helper()
	fetched, err := adm.FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	require.NoError(t, fetched.Error())
	out := make(map[string]int64)
	fetched.Each(func(o kadm.OffsetResponse) {
		out[o.Topic+"/"+strconv.Itoa(int(o.Partition))] = o.At
	})
	return out
}

func listGroups(t *testing.T, adm *kadm.Client) []string {
	t.Helper()
	groups, err := adm.ListGroups(context.Background())
	require.NoError(t, err)
	names := groups.Groups()
	slices.Sort(names)
	return names
}

// rawCommitTopic commits one offset with OffsetCommit v9 on its own connection and returns
// the partition's error code.
func rawCommitTopic(t *testing.T, addr, group, member string, gen int32, topic string, partition int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := dialRaw(t, addr).do(req).(*kmsg.OffsetCommitResponse)
	require.Len(t, resp.Topics, 1)
	require.Len(t, resp.Topics[0].Partitions, 1)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// expiryCounter is a server.Observer that counts expired offsets only.
type expiryCounter struct{ atomic.Int64 }

func (*expiryCounter) ObserveRequest(context.Context, protocol.RequestEvent) {}
func (*expiryCounter) ConnectionsChanged(int)                                {}
func (e *expiryCounter) OffsetsExpired(_ string, n int)                      { e.Add(int64(n)) }

// noExpiry hides every optional capability of the store it wraps.
type noExpiry struct{ offsetstore.Store }
