package interop

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestKadmOffsets drives the offset APIs with franz-go's admin client: commit (OffsetCommit
// v10 by topic id), fetch and fetch-all (OffsetFetch v10), fetch for several groups in one
// request (v8+ batched groups), delete (OffsetDelete), and an unknown group.
func TestKadmOffsets(t *testing.T) {
	kadmOffsetsFlow(t, startGateway(t, nil, "t1:3,t2:2"))
}

func kadmOffsetsFlow(t *testing.T, gw *gateway) {
	ctx := testContext(t)
	adm := newKadm(t, gw.addr)

	commit := offsets("t1", map[int32]int64{0: 10, 1: 11, 2: 12}, "meta")
	for p, o := range map[int32]int64{0: 20, 1: 21} {
		commit.Add(kadm.Offset{Topic: "t2", Partition: p, At: o, LeaderEpoch: 7})
	}
	resp, err := adm.CommitOffsets(ctx, "g1", commit)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	resp, err = adm.CommitOffsets(ctx, "g2", offsets("t1", map[int32]int64{0: 99}, ""))
	require.NoError(t, err)
	require.NoError(t, resp.Error())

	// Fetch-all returns every committed partition with its metadata and leader epoch.
	fetched, err := adm.FetchOffsets(ctx, "g1")
	require.NoError(t, err)
	require.NoError(t, fetched.Error())
	got := map[string]map[int32]int64{}
	fetched.Each(func(o kadm.OffsetResponse) {
		if got[o.Topic] == nil {
			got[o.Topic] = map[int32]int64{}
		}
		got[o.Topic][o.Partition] = o.At
	})
	require.Equal(t, map[string]map[int32]int64{"t1": {0: 10, 1: 11, 2: 12}, "t2": {0: 20, 1: 21}}, got)
	o, ok := fetched.Lookup("t1", 1)
	require.True(t, ok)
	require.Equal(t, "meta", o.Metadata)
	require.Equal(t, int32(-1), o.LeaderEpoch)
	o, ok = fetched.Lookup("t2", 0)
	require.True(t, ok)
	require.Equal(t, int32(7), o.LeaderEpoch)

	// Fetch of named topics.
	named, err := adm.FetchOffsetsForTopics(ctx, "g2", "t1")
	require.NoError(t, err)
	o, ok = named.Lookup("t1", 0)
	require.True(t, ok)
	require.Equal(t, int64(99), o.At)
	o, ok = named.Lookup("t1", 2)
	require.True(t, ok, "a never-committed partition of a named topic is answered")
	require.Equal(t, int64(-1), o.At)

	// Several groups in one OffsetFetch v10, one of them unknown.
	many := adm.FetchManyOffsets(ctx, "g1", "g2", "never-committed")
	require.NoError(t, many.Error())
	require.Len(t, many, 3)
	o, ok = many["g2"].Fetched.Lookup("t1", 0)
	require.True(t, ok)
	require.Equal(t, int64(99), o.At)
	o, ok = many["g1"].Fetched.Lookup("t2", 1)
	require.True(t, ok)
	require.Equal(t, int64(21), o.At)
	require.Empty(t, many["never-committed"].Fetched)

	// An unknown group: no error, no offsets (Kafka never answers GROUP_ID_NOT_FOUND here).
	unknown, err := adm.FetchOffsets(ctx, "nobody-here")
	require.NoError(t, err)
	require.NoError(t, unknown.Error())
	require.Empty(t, unknown)

	// Delete two partitions; the rest stay.
	del, err := adm.DeleteOffsets(ctx, "g1", kadm.TopicsSet{"t1": {0: {}, 2: {}}})
	require.NoError(t, err)
	require.NoError(t, del.Error())
	after, err := adm.FetchOffsets(ctx, "g1")
	require.NoError(t, err)
	_, ok = after.Lookup("t1", 0)
	require.False(t, ok)
	_, ok = after.Lookup("t1", 2)
	require.False(t, ok)
	o, ok = after.Lookup("t1", 1)
	require.True(t, ok)
	require.Equal(t, int64(11), o.At)

	// Deleting offsets of a group that does not exist: GROUP_ID_NOT_FOUND.
	_, err = adm.DeleteOffsets(ctx, "nobody-here", kadm.TopicsSet{"t1": {0: {}}})
	require.ErrorIs(t, err, kerr.GroupIDNotFound)
}

// TestKadmGroups lists, describes and deletes groups that exist only through committed
// offsets (Kafka's simple groups).
func TestKadmGroups(t *testing.T) {
	gw := startGateway(t, nil, "")
	ctx := testContext(t)
	adm := newKadm(t, gw.addr)
	for _, g := range []string{"a", "b"} {
		resp, err := adm.CommitOffsets(ctx, g, offsets("t1", map[int32]int64{0: 1}, ""))
		require.NoError(t, err)
		require.NoError(t, resp.Error())
	}
	listed, err := adm.ListGroups(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a", "b"}, listed.Groups())
	require.Equal(t, "Empty", listed["a"].State)

	described, err := adm.DescribeGroups(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, described.Error())
	require.Equal(t, "Empty", described["a"].State)

	deleted, err := adm.DeleteGroups(ctx, "a", "zzz")
	require.NoError(t, err)
	require.NoError(t, deleted["a"].Err)
	require.ErrorIs(t, deleted["zzz"].Err, kerr.GroupIDNotFound)
	listed, err = adm.ListGroups(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, listed.Groups())
	gone, err := adm.FetchOffsets(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, gone)
}
