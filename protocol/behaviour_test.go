package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

func TestStoreErrorCode(t *testing.T) {
	backend := errors.New("disk on fire")
	for _, c := range []struct {
		err          error
		write, fetch int16
	}{
		{backend, coordNA, notCoord},
		{nil, coordNA, notCoord},
		{context.DeadlineExceeded, coordNA, notCoord},
		{context.Canceled, coordNA, notCoord},
		{&offsetstore.Error{Op: "Commit", Err: offsetstore.ErrClosed}, coordNA, notCoord},
		{offsetstore.ErrInvalid, coordNA, notCoord},
		{fmt.Errorf("wrapped: %w", kerr.RequestTimedOut), coordNA, notCoord},
		{kerr.NotEnoughReplicas, coordNA, notCoord},
		{kerr.UnknownTopicOrPartition, coordNA, notCoord},
		{kerr.NotLeaderForPartition, notCoord, notCoord},
		{kerr.KafkaStorageError, notCoord, notCoord},
		{kerr.NetworkException, loadInProg, loadInProg},
		{kerr.CoordinatorLoadInProgress, loadInProg, loadInProg},
		{kerr.NotCoordinator, notCoord, notCoord},
		{kerr.CoordinatorNotAvailable, coordNA, notCoord},
		{kerr.UnknownServerError, coordNA, notCoord},
		{kerr.MessageTooLarge, coordNA, notCoord},
		{(*kerr.Error)(nil), coordNA, notCoord},
	} {
		name := fmt.Sprintf("%v", c.err)
		assert.Equal(t, c.write, protocol.StoreErrorCode(c.err), "StoreErrorCode(%s)", name)
		assert.Equal(t, c.fetch, protocol.FetchErrorCode(c.err), "FetchErrorCode(%s)", name)
		assert.True(t, kerr.IsRetriable(kerr.ErrorForCode(protocol.StoreErrorCode(c.err))), "%s: StoreErrorCode not retriable", name)
		assert.True(t, kerr.IsRetriable(kerr.ErrorForCode(protocol.FetchErrorCode(c.err))), "%s: FetchErrorCode not retriable", name)
	}
}

// TestStoreFailures checks that a failing store is never reported as success or as "no
// offset", and that only the partitions that were to be stored carry the store's error.
func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("backend down")
	t.Run("commit", func(t *testing.T) {
		fs := &faultStore{Store: newStore(t), commitErr: boom}
		h := protocol.New(fs, protocol.Options{Topics: topicsOf(map[string]int32{"t": 2})})
		resp := commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}, {1, 1, -1, strp(string(make([]byte, 5000)))}, {5, 1, -1, nil}}))
		assert.Equal(t, codes("t/0", coordNA, "t/1", mdTooLarge, "t/5", unknownTP), commitCodes(resp))
		assert.Equal(t, 1, fs.commits, "one write")
	})
	t.Run("commit with a deadline", func(t *testing.T) {
		fs := &faultStore{Store: newStore(t), commitErr: context.DeadlineExceeded}
		h := protocol.New(fs, protocol.Options{})
		assert.Equal(t, codes("t/0", coordNA), commitCodes(commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}}))))
	})
	t.Run("commit existence check without validator", func(t *testing.T) {
		fs := &faultStore{Store: newStore(t), fetchAllErr: boom}
		h := protocol.New(fs, protocol.Options{})
		assert.Equal(t, codes("t/0", coordNA), commitCodes(commitOK(ctx, t, h, commitReq(9, "g", 3, "m", "t", []part{{0, 1, -1, nil}}))))
		assert.Equal(t, 0, fs.commits)
	})
	t.Run("fetch", func(t *testing.T) {
		fs := &faultStore{Store: newStore(t), fetchErr: boom, fetchAllErr: boom}
		h := protocol.New(fs, protocol.Options{})
		for v := int16(0); v <= 9; v++ {
			got := fetchResults(fetchOK(ctx, t, h, fetchReq(v, "g", "t", []int32{0, 1})))[0]
			if v >= 2 {
				assert.Equal(t, fetchGroupResult{Code: notCoord, Partitions: map[string]fetched{}}, got, "v%d", v)
				all := fetchResults(fetchOK(ctx, t, h, fetchReq(v, "g")))[0]
				assert.Equal(t, fetchGroupResult{Code: notCoord, Partitions: map[string]fetched{}}, all, "v%d fetch all", v)
				continue
			}
			f := fetched{Offset: -1, Epoch: -1, Code: notCoord}
			assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{"t/0": f, "t/1": f}, Count: 2}, got, "v%d", v)
		}
	})
	t.Run("delete", func(t *testing.T) {
		fs := &faultStore{Store: newStore(t), delErr: boom}
		require.NoError(t, offsetstore.CommitOne(ctx, fs, "g", offsetstore.TopicPartition{Topic: "t"}, offsetstore.Offset{Offset: 1}))
		h := protocol.New(fs, protocol.Options{})
		top, _ := deleteCodes(deleteOK(ctx, t, h, deleteReq("g", "t", []int32{0})))
		assert.Equal(t, coordNA, top)
		fs.delErr, fs.fetchAllErr = nil, boom
		top, _ = deleteCodes(deleteOK(ctx, t, h, deleteReq("g", "t", []int32{0})))
		assert.Equal(t, coordNA, top, "existence check failure")
	})
	t.Run("Options.ErrorCode", func(t *testing.T) {
		var keys []int16
		fs := &faultStore{Store: newStore(t), commitErr: boom, fetchErr: boom}
		h := protocol.New(fs, protocol.Options{ErrorCode: func(key int16, err error) int16 {
			keys = append(keys, key)
			if key == 8 {
				return kerr.InvalidCommitOffsetSize.Code
			}
			return 0 // falls back to the default
		}})
		assert.Equal(t, codes("t/0", kerr.InvalidCommitOffsetSize.Code), commitCodes(commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}}))))
		assert.Equal(t, notCoord, fetchResults(fetchOK(ctx, t, h, fetchReq(9, "g", "t", []int32{0})))[0].Code)
		assert.Equal(t, []int16{8, 9}, keys)
	})
}

func TestCommitDetails(t *testing.T) {
	ctx := context.Background()
	t.Run("duplicate partitions: each answered, the last wins", func(t *testing.T) {
		st := newStore(t)
		h := protocol.New(st, protocol.Options{})
		resp := commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}, {0, 2, -1, nil}}, "t", []part{{0, 3, -1, strp("last")}}))
		assert.Equal(t, codes("t/0", none, "t/0", none, "t/0", none), commitCodes(resp))
		o, _, err := offsetstore.FetchOne(ctx, st, "g", offsetstore.TopicPartition{Topic: "t"})
		require.NoError(t, err)
		assert.Equal(t, int64(3), o.Offset)
		assert.Equal(t, "last", o.Metadata)
	})
	t.Run("topic ACL and existence per topic, in that order", func(t *testing.T) {
		h := protocol.New(newStore(t), protocol.Options{Authorizer: deny("READ:TOPIC:secret", "READ:TOPIC:ghost"), Topics: topicsOf(map[string]int32{"t": 1, "secret": 1})})
		resp := commitOK(ctx, t, h, commitReq(9, "g", -1, "", "secret", []part{{0, 1, -1, nil}}, "ghost", []part{{0, 1, -1, nil}}, "t", []part{{0, 1, -1, nil}}))
		assert.Equal(t, codes("secret/0", topicAuth, "ghost/0", topicAuth, "t/0", none), commitCodes(resp))
	})
	t.Run("the validator sees the request's member fields", func(t *testing.T) {
		var seen []protocol.GroupRequest
		h := protocol.New(newStore(t), protocol.Options{Groups: protocol.GroupValidatorFunc(func(_ context.Context, r protocol.GroupRequest) (protocol.GroupResult, error) {
			seen = append(seen, r)
			return protocol.GroupResult{}, nil
		})})
		req := commitReq(7, "g", 4, "m", "t", []part{{0, 1, -1, nil}})
		req.InstanceID = strp("i")
		commitOK(ctx, t, h, req)
		req0 := commitReq(0, "g", 4, "m", "t", []part{{0, 1, -1, nil}}) // v0 has no generation or member on the wire
		req0.InstanceID = strp("i")
		commitOK(ctx, t, h, req0)
		require.Equal(t, 2, len(seen))
		assert.Equal(t, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Version: 7, Group: "g", MemberID: strp("m"), InstanceID: strp("i"), Generation: 4}, seen[0])
		assert.Equal(t, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Version: 0, Group: "g", MemberID: strp(""), Generation: -1}, seen[1])
	})
	t.Run("validator errors", func(t *testing.T) {
		for _, c := range []struct {
			name string
			err  error
			want int16
		}{
			{"kerr", kerr.RebalanceInProgress, kerr.RebalanceInProgress.Code},
			{"wrapped kerr", fmt.Errorf("coordinator: %w", kerr.FencedInstanceID), kerr.FencedInstanceID.Code},
			{"other error", errors.New("coordinator crashed"), coordNA},
			{"typed nil is acceptance", (*kerr.Error)(nil), none},
			{"ErrNoActiveGroup applies the built-in rules", protocol.ErrNoActiveGroup, illegalGen},
		} {
			h := protocol.New(newStore(t), protocol.Options{Groups: protocol.GroupValidatorFunc(func(context.Context, protocol.GroupRequest) (protocol.GroupResult, error) {
				return protocol.GroupResult{}, c.err
			})})
			assert.Equal(t, codes("t/0", c.want), commitCodes(commitOK(ctx, t, h, commitReq(8, "g", 2, "m", "t", []part{{0, 1, -1, nil}}))), c.name)
		}
	})
	t.Run("negative MaxMetadataBytes disables the check", func(t *testing.T) {
		h := protocol.New(newStore(t), protocol.Options{MaxMetadataBytes: -1})
		assert.Equal(t, codes("t/0", none), commitCodes(commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, strp(string(make([]byte, 10000)))}}))))
		h = protocol.New(newStore(t), protocol.Options{MaxMetadataBytes: 2})
		assert.Equal(t, codes("t/0", mdTooLarge, "t/1", none), commitCodes(commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, strp("abc")}, {1, 1, -1, strp("ab")}}))))
	})
	t.Run("retention overflow saturates", func(t *testing.T) {
		st := newStore(t)
		h := protocol.New(st, protocol.Options{Now: clock})
		req := commitReq(3, "g", -1, "", "t", []part{{0, 1, -1, nil}})
		req.RetentionTimeMillis = 1<<63 - 1
		assert.Equal(t, codes("t/0", none), commitCodes(commitOK(ctx, t, h, req)))
		o, _, err := offsetstore.FetchOne(ctx, st, "g", offsetstore.TopicPartition{Topic: "t"})
		require.NoError(t, err)
		require.True(t, o.ExpireTime.After(fixedNow), "expire time %v not after now", o.ExpireTime)
	})
}

func TestFetchDetails(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	require.NoError(t, st.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "a", Partition: 1}:      {Offset: 11, LeaderEpoch: -1},
		{Topic: "a", Partition: 0}:      {Offset: 10, LeaderEpoch: 2, Metadata: "m"},
		{Topic: "secret", Partition: 0}: {Offset: 5, LeaderEpoch: -1},
		{Topic: "b", Partition: 0}:      {Offset: 20, LeaderEpoch: -1},
	}))
	h := protocol.New(st, protocol.Options{Authorizer: deny("DESCRIBE:TOPIC:secret"), TopicIDs: testIDs})
	t.Run("fetch all leaves out topics the principal may not describe", func(t *testing.T) {
		resp := fetchOK(ctx, t, h, fetchReq(9, "g"))
		require.Equal(t, 1, len(resp.Groups))
		var got []string
		for _, tp := range resp.Groups[0].Topics {
			for _, p := range tp.Partitions {
				got = append(got, fmt.Sprintf("%s/%d=%d", tp.Topic, p.Partition, p.Offset))
			}
		}
		assert.Equal(t, []string{"a/0=10", "a/1=11", "b/0=20"}, got, "sorted, filtered")
	})
	t.Run("explicit denied topics get TOPIC_AUTHORIZATION_FAILED", func(t *testing.T) {
		for _, v := range []int16{1, 5, 9} {
			got := fetchResults(fetchOK(ctx, t, h, fetchReq(v, "g", "secret", []int32{0}, "a", []int32{0, 0})))[0]
			epoch := int32(-1)
			if v >= 5 {
				epoch = 2
			}
			assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{
				"secret/0": {Offset: -1, Epoch: -1, Code: topicAuth},
				"a/0":      {Offset: 10, Epoch: epoch, Metadata: "m"},
			}, Count: 3}, got, "v%d", v)
		}
	})
	t.Run("v10 fetch all reports topic ids; unknown ids get UNKNOWN_TOPIC_ID", func(t *testing.T) {
		req := fetchReq(10, "g")
		resp := fetchOK(ctx, t, h, req)
		var ids [][16]byte
		for _, tp := range resp.Groups[0].Topics {
			ids = append(ids, tp.TopicID)
		}
		assert.Equal(t, [][16]byte{topicID("a"), topicID("b")}, ids)

		req = fetchReq(10, "g", "", []int32{0})
		req.Groups[0].Topics[0].TopicID = [16]byte{0xEE}
		resp = fetchOK(ctx, t, h, req)
		assert.Equal(t, [16]byte{0xEE}, resp.Groups[0].Topics[0].TopicID)
		assert.Equal(t, unknownTID, resp.Groups[0].Topics[0].Partitions[0].ErrorCode)
	})
	t.Run("metadata is never null, and responses do not alias the store", func(t *testing.T) {
		resp := fetchOK(ctx, t, h, fetchReq(9, "g", "a", []int32{0, 1, 9}))
		for _, p := range resp.Groups[0].Topics[0].Partitions {
			require.NotNil(t, p.Metadata, "partition %d: null metadata", p.Partition)
		}
		*resp.Groups[0].Topics[0].Partitions[0].Metadata = "changed"
		o, _, _ := offsetstore.FetchOne(ctx, st, "g", offsetstore.TopicPartition{Topic: "a"})
		assert.Equal(t, "m", o.Metadata)
	})
	t.Run("the validator is asked for every version, member fields from v9", func(t *testing.T) {
		var seen []protocol.GroupRequest
		h := protocol.New(st, protocol.Options{Groups: protocol.GroupValidatorFunc(func(_ context.Context, r protocol.GroupRequest) (protocol.GroupResult, error) {
			seen = append(seen, r)
			return protocol.GroupResult{}, protocol.ErrNoActiveGroup
		})})
		req := fetchReq(9, "g", "a", []int32{0})
		req.Groups[0].MemberID, req.Groups[0].MemberEpoch = strp("m"), 3
		fetchOK(ctx, t, h, req)
		fetchOK(ctx, t, h, fetchReq(3, "g"))
		assert.Equal(t, []protocol.GroupRequest{
			{Op: protocol.OpOffsetFetch, Version: 9, Group: "g", MemberID: strp("m"), Generation: 3},
			{Op: protocol.OpOffsetFetch, Version: 3, Group: "g", Generation: -1},
		}, seen)
	})
	t.Run("v8 duplicate groups are answered separately", func(t *testing.T) {
		req := fetchReq(8, "g", "b", []int32{0})
		req.Groups = append(req.Groups, req.Groups[0])
		got := fetchResults(fetchOK(ctx, t, h, req))
		require.Equal(t, 2, len(got))
		assert.Equal(t, got[0], got[1])
	})
}

func TestDeleteDetails(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		auth    protocol.Authorizer
		group   string
		topics  []any
		wantTop int16
		want    []string
		left    int
	}{
		{"group ACL is checked first", deny("DELETE:GROUP:g"), "g", []any{"t", []int32{0}}, groupAuth, nil, 2},
		{"\"\" is INVALID_GROUP_ID after the ACL", nil, "", []any{"t", []int32{0}}, kerr.InvalidGroupID.Code, nil, 2},
		{"ACL before INVALID_GROUP_ID", deny("DELETE:GROUP:"), "", []any{"t", []int32{0}}, groupAuth, nil, 2},
		{"topic READ ACL and existence per partition", deny("READ:TOPIC:secret"), "g",
			[]any{"secret", []int32{0}, "zz", []int32{0}, "t", []int32{-1, 2, 1}}, 0,
			codes("secret/0", topicAuth, "zz/0", unknownTP, "t/-1", unknownTP, "t/2", unknownTP, "t/1", none), 1},
		{"the group is checked even with nothing forwarded", nil, "missing", []any{"zz", []int32{0}}, groupNF, nil, 2},
		{"nothing forwarded, existing group", nil, "g", []any{"zz", []int32{0}}, 0, codes("zz/0", unknownTP), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t)
			require.NoError(t, st.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: 0}: {Offset: 1}, {Topic: "t", Partition: 1}: {Offset: 1}}))
			h := protocol.New(st, protocol.Options{Authorizer: c.auth, Topics: topicsOf(map[string]int32{"t": 2, "secret": 1})})
			top, got := deleteCodes(deleteOK(ctx, t, h, deleteReq(c.group, c.topics...)))
			assert.Equal(t, c.wantTop, top)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.left, len(fetchAllOK(ctx, t, st, "g")))
		})
	}
}

// TestRequestor checks that a Handler is a kmsg.Requestor: typed requests go through it.
func TestRequestor(t *testing.T) {
	ctx := context.Background()
	var _ kmsg.Requestor = (*protocol.Handler)(nil)
	h := protocol.New(newStore(t), protocol.Options{})
	cresp, err := commitReq(9, "g", -1, "", "t", []part{{0, 9, -1, nil}}).RequestWith(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, codes("t/0", none), commitCodes(cresp))
	fresp, err := fetchReq(9, "g", "t", []int32{0}).RequestWith(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, int64(9), fresp.Groups[0].Topics[0].Partitions[0].Offset)
	dresp, err := deleteReq("g", "t", []int32{0}).RequestWith(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, int16(0), dresp.ErrorCode)
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, h)
	require.ErrorIs(t, err, protocol.ErrUnsupported, "Metadata")
}

// TestFetchSizes covers both ways a fetch matches stored offsets to requested partitions (a
// scan for small fetches, map lookups for large ones), with duplicates and misses.
func TestFetchSizes(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int32{1, 3, 16, 17, 40, 300} {
		h := protocol.New(newStore(t), protocol.Options{})
		var parts []part
		for p := range n {
			parts = append(parts, part{p, int64(p) * 10, p, nil})
		}
		assert.Equal(t, none, firstCode(commitOK(ctx, t, h, commitReq(9, "g", -1, "", "t", parts, "u", parts[:1]))))
		var want []int32
		for p := range n + 2 {
			want = append(want, p)
		}
		want = append(want, 0, n-1) // duplicates
		got := fetchResults(fetchOK(ctx, t, h, fetchReq(9, "g", "t", want, "u", []int32{0, 1})))[0]
		assert.Equal(t, len(want)+2, got.Count, "n=%d: every requested partition answered", n)
		for _, p := range want {
			f := got.Partitions[fmt.Sprintf("t/%d", p)]
			if p < n {
				assert.Equal(t, fetched{Offset: int64(p) * 10, Epoch: p}, f, "n=%d p=%d", n, p)
			} else {
				assert.Equal(t, missingFetch, f, "n=%d p=%d", n, p)
			}
		}
		assert.Equal(t, fetched{Offset: 0, Epoch: 0}, got.Partitions["u/0"], "n=%d", n)
		assert.Equal(t, missingFetch, got.Partitions["u/1"], "n=%d", n)
	}
}

func firstCode(resp *kmsg.OffsetCommitResponse) int16 {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return p.ErrorCode
			}
		}
	}
	return 0
}
