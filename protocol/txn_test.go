package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// txnReq builds a TxnOffsetCommit at version v for producer 7, epoch 1 of "tx", committing
// offset off with metadata md on partitions of topic "t".
func txnReq(v int16, group string, off int64, md *string, partitions ...int32) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = v, "tx", group, 7, 1
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic, t.TopicID = "t", topicID("t")
	for _, p := range partitions {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, off, 4, md
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	return req
}

// txnCodes renders a TxnOffsetCommit response as sorted "topic/partition=code" strings.
func txnCodes(resp *kmsg.TxnOffsetCommitResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		name := t.Topic
		if resp.Version >= 6 && t.TopicID == topicID("t") {
			name = "t" // v6 answers by topic id only
		}
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d=%d", name, p.Partition, p.ErrorCode))
		}
	}
	slices.Sort(out)
	return out
}

// verdict is a TxnValidator whose answer the test sets; it records what it was asked.
type verdict struct {
	mu    sync.Mutex
	err   error
	asked []protocol.TxnRequest
}

func (v *verdict) ValidateTxn(_ context.Context, req protocol.TxnRequest) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked = append(v.asked, req)
	return v.err
}

func txnHandler(t *testing.T, st offsetstore.Store, opts protocol.Options) (*protocol.Handler, *verdict) {
	t.Helper()
	v := &verdict{}
	opts.Transactions, opts.Now, opts.TopicIDs = v, clock, testIDs
	return protocol.New(st, opts), v
}

// stableFetch fetches t/0 and t/1 of group at OffsetFetch v (7+) with require_stable as given.
func stableFetch(t *testing.T, h *protocol.Handler, v int16, group string, requireStable bool) fetchGroupResult {
	t.Helper()
	req := fetchReq(v, group, "t", []int32{0, 1})
	req.RequireStable = requireStable
	if v >= 10 {
		req.Groups[0].Topics[0].TopicID = topicID("t")
	}
	resp, err := h.OffsetFetch(context.Background(), req)
	require.NoError(t, err)
	res := fetchResults(resp)[0]
	if v >= 10 { // fetchResults names v10 topics by their id's first bytes
		for _, p := range []string{"0", "1"} {
			res.Partitions["t/"+p] = res.Partitions["7401/"+p]
		}
	}
	return res
}

// TestTxnOffsetCommitVersions commits a transaction's offsets at every version over both
// byte-level paths: invisible (and unstable to a require_stable fetch) until the transaction
// commits, then committed with the leader epoch from v2; an aborted transaction leaves nothing.
func TestTxnOffsetCommitVersions(t *testing.T) {
	ctx := context.Background()
	maxV := kmsg.NewPtrTxnOffsetCommitRequest().MaxVersion()
	require.EqualValues(t, 6, maxV, "kmsg's TxnOffsetCommit versions changed")
	for _, path := range paths {
		for v := int16(0); v <= maxV; v++ {
			t.Run(fmt.Sprintf("%s/v%d", path.name, v), func(t *testing.T) {
				st := memstore.New(memstore.Options{})
				defer st.Close()
				h, ask := txnHandler(t, st, protocol.Options{})
				require.NoError(t, offsetstore.CommitOne(ctx, st, "g", offsetstore.TopicPartition{Topic: "t", Partition: 0},
					offsetstore.Offset{Offset: 5, LeaderEpoch: -1, CommitTime: fixedNow}))

				resp := path.send(t, h, txnReq(v, "g", 42, strp("md"), 0, 1)).(*kmsg.TxnOffsetCommitResponse)
				require.Len(t, resp.Topics, 1)
				if v >= 6 {
					assert.Equal(t, topicID("t"), resp.Topics[0].TopicID, "topic id echoed")
				} else {
					assert.Equal(t, "t", resp.Topics[0].Topic)
				}
				assert.Equal(t, codes("t/0", 0, "t/1", 0), txnCodes(resp))
				require.Len(t, ask.asked, 1)
				assert.Equal(t, protocol.TxnRequest{Version: v, TransactionalID: "tx", ProducerID: 7, ProducerEpoch: 1, Group: "g"}, ask.asked[0])

				// Pending: the last committed offsets, or UNSTABLE_OFFSET_COMMIT when required.
				got := stableFetch(t, h, 7, "g", false)
				assert.Equal(t, fetched{Offset: 5, Epoch: -1}, got.Partitions["t/0"])
				assert.Equal(t, fetched{Offset: -1, Epoch: -1}, got.Partitions["t/1"])
				got = stableFetch(t, h, 8, "g", true)
				assert.Equal(t, fetched{Offset: -1, Epoch: -1, Code: kerr.UnstableOffsetCommit.Code}, got.Partitions["t/0"])
				assert.Equal(t, fetched{Offset: -1, Epoch: -1, Code: kerr.UnstableOffsetCommit.Code}, got.Partitions["t/1"])

				require.NoError(t, h.CompleteTransaction(ctx, 7, []string{"g"}, true))
				epoch := int32(-1)
				if v >= 2 {
					epoch = 4
				}
				got = stableFetch(t, h, 7, "g", true)
				assert.Equal(t, fetched{Offset: 42, Epoch: epoch, Metadata: "md"}, got.Partitions["t/0"])
				assert.Equal(t, fetched{Offset: 42, Epoch: epoch, Metadata: "md"}, got.Partitions["t/1"])

				// An aborted transaction leaves the committed offsets as they were.
				path.send(t, h, txnReq(v, "g", 99, nil, 0))
				require.NoError(t, h.CompleteTransaction(ctx, 7, []string{"g"}, false))
				got = stableFetch(t, h, 9, "g", true)
				assert.Equal(t, fetched{Offset: 42, Epoch: epoch, Metadata: "md"}, got.Partitions["t/0"])
			})
		}
	}
}

// TestRequireStablePlacement checks where UNSTABLE_OFFSET_COMMIT goes at each OffsetFetch
// version that has require_stable: per pending partition only, explicit topics and null
// topics alike, never for a partition without a pending offset.
func TestRequireStablePlacement(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	h, _ := txnHandler(t, st, protocol.Options{})
	require.NoError(t, st.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "t", Partition: 0}: {Offset: 1, LeaderEpoch: -1}, {Topic: "t", Partition: 1}: {Offset: 2, LeaderEpoch: -1},
	}))
	_, err := h.TxnOffsetCommit(ctx, txnReq(3, "g", 10, nil, 0))
	require.NoError(t, err)
	for v := int16(7); v <= 10; v++ {
		got := stableFetch(t, h, v, "g", true)
		assert.Zero(t, got.Code, "v%d group code", v)
		assert.Equal(t, kerr.UnstableOffsetCommit.Code, got.Partitions["t/0"].Code, "v%d t/0", v)
		assert.Equal(t, fetched{Offset: 2, Epoch: -1}, got.Partitions["t/1"], "v%d t/1", v)

		all := fetchReq(v, "g")
		all.RequireStable = true
		resp, err := h.OffsetFetch(ctx, all)
		require.NoError(t, err)
		res := fetchResults(resp)[0]
		name := "t"
		if v >= 10 {
			name = "7401"
		}
		assert.Equal(t, kerr.UnstableOffsetCommit.Code, res.Partitions[name+"/0"].Code, "v%d null topics t/0", v)
		assert.Equal(t, int64(2), res.Partitions[name+"/1"].Offset, "v%d null topics t/1", v)
	}
	// v6 has no require_stable: the committed offset.
	req := fetchReq(6, "g", "t", []int32{0})
	req.RequireStable = true
	resp, err := h.OffsetFetch(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, fetched{Offset: 1, Epoch: -1}, fetchResults(resp)[0].Partitions["t/0"])
}

// TestTxnOffsetCommitChecks checks Kafka's check order and codes, per version where they
// differ.
func TestTxnOffsetCommitChecks(t *testing.T) {
	ctx := context.Background()
	big := string(make([]byte, protocol.DefaultMaxMetadataBytes+1))
	type tc struct {
		name  string
		opts  protocol.Options
		txn   error // the TxnValidator's verdict
		req   func(v int16) *kmsg.TxnOffsetCommitRequest
		codes func(v int16) []string
	}
	all := func(code int16) func(int16) []string {
		return func(int16) []string { return codes("t/0", code, "t/1", code) }
	}
	plain := func(v int16) *kmsg.TxnOffsetCommitRequest { return txnReq(v, "g", 1, nil, 0, 1) }
	tests := []tc{
		{name: "transactional id ACL first", opts: protocol.Options{Authorizer: deny("WRITE:TXNID:tx", "READ:GROUP:g")},
			txn: kerr.ProducerFenced, req: plain, codes: all(kerr.TransactionalIDAuthorizationFailed.Code)},
		{name: "group ACL", opts: protocol.Options{Authorizer: deny("READ:GROUP:g")}, req: plain, codes: all(kerr.GroupAuthorizationFailed.Code)},
		{name: "topic ACL before the transaction", opts: protocol.Options{Authorizer: deny("READ:TOPIC:t")}, txn: kerr.ProducerFenced,
			req: plain, codes: all(kerr.TopicAuthorizationFailed.Code)},
		{name: "unknown partition", opts: protocol.Options{Topics: topicsOf(map[string]int32{"t": 1})}, txn: kerr.InvalidProducerIDMapping,
			req: plain, codes: func(int16) []string {
				return codes("t/0", kerr.InvalidProducerIDMapping.Code, "t/1", kerr.UnknownTopicOrPartition.Code)
			}},
		{name: "empty group id", txn: kerr.ProducerFenced, req: func(v int16) *kmsg.TxnOffsetCommitRequest { return txnReq(v, "", 1, nil, 0, 1) },
			codes: all(kerr.InvalidGroupID.Code)},
		{name: "unknown producer id", txn: kerr.InvalidProducerIDMapping, req: plain, codes: all(kerr.InvalidProducerIDMapping.Code)},
		{name: "fenced by a newer epoch", txn: kerr.ProducerFenced, req: plain, codes: all(kerr.InvalidProducerEpoch.Code)},
		{name: "group not in the transaction", txn: kerr.TransactionAbortable, req: plain, codes: func(v int16) []string {
			if v < 4 {
				return all(kerr.InvalidTxnState.Code)(v)
			}
			return all(kerr.TransactionAbortable.Code)(v)
		}},
		{name: "coordinator loading", txn: kerr.CoordinatorLoadInProgress, req: plain, codes: func(v int16) []string {
			if v <= 1 {
				return all(kerr.CoordinatorNotAvailable.Code)(v)
			}
			return all(kerr.CoordinatorLoadInProgress.Code)(v)
		}},
		{name: "coordinator failure", txn: errors.New("boom"), req: plain, codes: all(kerr.CoordinatorNotAvailable.Code)},
		{name: "generation to a missing group", req: func(v int16) *kmsg.TxnOffsetCommitRequest {
			r := plain(v)
			r.Generation = 5
			return r
		}, codes: func(v int16) []string {
			switch {
			case v < 3:
				return all(0)(v) // no generation before v3
			case v < 6:
				return all(kerr.IllegalGeneration.Code)(v)
			}
			return all(kerr.GroupIDNotFound.Code)(v)
		}},
		{name: "metadata too large", req: func(v int16) *kmsg.TxnOffsetCommitRequest {
			r := plain(v)
			r.Topics[0].Partitions[0].Metadata = &big
			return r
		}, codes: func(int16) []string { return codes("t/0", kerr.OffsetMetadataTooLarge.Code, "t/1", 0) }},
	}
	for _, tt := range tests {
		for v := int16(0); v <= 6; v++ {
			t.Run(fmt.Sprintf("%s/v%d", tt.name, v), func(t *testing.T) {
				st := memstore.New(memstore.Options{})
				defer st.Close()
				h, ask := txnHandler(t, st, tt.opts)
				ask.err = tt.txn
				resp, err := h.TxnOffsetCommit(ctx, tt.req(v))
				require.NoError(t, err)
				want := tt.codes(v)
				assert.Equal(t, want, txnCodes(resp))
				pending, err := st.PendingPartitions(ctx, "g")
				require.NoError(t, err)
				staged := 0
				for _, c := range want {
					if c[len(c)-2:] == "=0" {
						staged++
					}
				}
				assert.Len(t, pending, staged, "partitions staged")
			})
		}
	}
}

// TestTxnOffsetCommitGroup checks what the GroupValidator is asked (KIP-447 fields from v3)
// and that its refusal goes on every forwarded partition.
func TestTxnOffsetCommitGroup(t *testing.T) {
	ctx := context.Background()
	for v := int16(0); v <= 6; v++ {
		var got protocol.GroupRequest
		groups := protocol.GroupValidatorFunc(func(_ context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
			got = req
			return protocol.GroupResult{}, kerr.IllegalGeneration
		})
		h, _ := txnHandler(t, newStore(t), protocol.Options{Groups: groups})
		req := plain3(v)
		resp, err := h.TxnOffsetCommit(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, codes("t/0", kerr.IllegalGeneration.Code), txnCodes(resp))
		want := protocol.GroupRequest{Op: protocol.OpTxnOffsetCommit, Version: v, Group: "g", Generation: -1, MemberID: strp("")}
		if v >= 3 {
			want.Generation, want.MemberID, want.InstanceID = 3, strp("m"), strp("i")
		}
		assert.Equal(t, want, got, "v%d", v)
	}
}

func plain3(v int16) *kmsg.TxnOffsetCommitRequest {
	r := txnReq(v, "g", 1, nil, 0)
	r.Generation, r.MemberID, r.InstanceID = 3, "m", strp("i")
	return r
}

// TestTxnOffsetCommitFenced checks that a commit accepted under a group fence stages its
// offsets only while the fence holds: when it moved, the group is validated again and its new
// verdict is the answer; Done is told each write's outcome.
func TestTxnOffsetCommitFenced(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	var rounds int
	var done []error
	groups := protocol.GroupValidatorFunc(func(ctx context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
		rounds++
		if rounds > 1 {
			return protocol.GroupResult{}, kerr.IllegalGeneration
		}
		// Accepted under fence 0, which moves before the write lands.
		_, err := offsetstore.AdvanceFence(ctx, st, req.Group)
		require.NoError(t, err)
		return protocol.GroupResult{Fenced: true, Fence: 0, Done: func(err error) { done = append(done, err) }}, nil
	})
	h, _ := txnHandler(t, st, protocol.Options{Groups: groups})
	resp, err := h.TxnOffsetCommit(ctx, plain3(3))
	require.NoError(t, err)
	assert.Equal(t, codes("t/0", kerr.IllegalGeneration.Code), txnCodes(resp))
	assert.Equal(t, 2, rounds)
	require.Len(t, done, 1)
	assert.ErrorIs(t, done[0], offsetstore.ErrFenced)
	pending, err := st.PendingPartitions(ctx, "g")
	require.NoError(t, err)
	assert.Empty(t, pending)
}

// TestTxnOffsetCommitServed checks that TxnOffsetCommit is advertised and served only with a
// TxnValidator over a PendingCommitter store.
func TestTxnOffsetCommitServed(t *testing.T) {
	adv := func(h *protocol.Handler) (int16, bool) {
		for _, k := range h.APIVersions() {
			if k.ApiKey == kmsg.TxnOffsetCommit.Int16() {
				return k.MaxVersion, true
			}
		}
		return 0, false
	}
	v := protocol.TxnValidatorFunc(func(context.Context, protocol.TxnRequest) error { return nil })
	max, ok := adv(protocol.New(newStore(t), protocol.Options{Transactions: v}))
	assert.True(t, ok)
	assert.EqualValues(t, 5, max, "without TopicIDs")
	max, _ = adv(protocol.New(newStore(t), protocol.Options{Transactions: v, TopicIDs: testIDs}))
	assert.EqualValues(t, 6, max, "with TopicIDs")
	_, ok = adv(protocol.New(newStore(t), protocol.Options{}))
	assert.False(t, ok, "without a TxnValidator")
	noPending := struct{ offsetstore.Store }{newStore(t)}
	h := protocol.New(noPending, protocol.Options{Transactions: v})
	_, ok = adv(h)
	assert.False(t, ok, "over a store without pending offsets")
	_, err := h.TxnOffsetCommit(context.Background(), txnReq(3, "g", 1, nil, 0))
	assert.ErrorIs(t, err, protocol.ErrUnsupported)
	assert.ErrorIs(t, h.CompleteTransaction(context.Background(), 7, []string{"g"}, true), protocol.ErrUnsupported)
}

// TestPendingGroupExists checks that a group whose only offsets are pending exists, as
// Kafka's simple group created by a transactional commit does: a commit naming a generation
// gets UNKNOWN_MEMBER_ID, not the missing group's code.
func TestPendingGroupExists(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	h, _ := txnHandler(t, st, protocol.Options{})
	_, err := h.TxnOffsetCommit(ctx, txnReq(3, "g", 1, nil, 0))
	require.NoError(t, err)
	resp, err := h.OffsetCommit(ctx, commitReq(9, "g", 5, "m", "t", []part{{0, 1, -1, nil}}))
	require.NoError(t, err)
	assert.Equal(t, codes("t/0", kerr.UnknownMemberID.Code), commitCodes(resp))
	resp, err = h.OffsetCommit(ctx, commitReq(9, "other", 5, "m", "t", []part{{0, 1, -1, nil}}))
	require.NoError(t, err)
	assert.Equal(t, codes("t/0", kerr.GroupIDNotFound.Code), commitCodes(resp))
}
