package protocol_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// fixedNow is the clock every test Handler uses.
var fixedNow = time.UnixMilli(1_700_000_000_000).UTC()

func clock() time.Time { return fixedNow }

// newStore returns a fresh memstore closed at the end of the test.
func newStore(t testing.TB) offsetstore.Store {
	t.Helper()
	s := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// faultStore wraps a Store and fails the methods whose error is set. It counts calls so tests
// can assert a method was never reached.
type faultStore struct {
	offsetstore.Store
	mu                                       sync.Mutex
	commitErr, fetchErr, fetchAllErr, delErr error
	commits, fetches, fetchAlls, deletes     int
}

func (f *faultStore) Commit(ctx context.Context, g string, o map[offsetstore.TopicPartition]offsetstore.Offset) error {
	f.mu.Lock()
	f.commits++
	err := f.commitErr
	f.mu.Unlock()
	if err != nil {
		return &offsetstore.Error{Op: "Commit", Group: g, Err: err}
	}
	return f.Store.Commit(ctx, g, o)
}

func (f *faultStore) Fetch(ctx context.Context, g string, p []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	f.mu.Lock()
	f.fetches++
	err := f.fetchErr
	f.mu.Unlock()
	if err != nil {
		return nil, &offsetstore.Error{Op: "Fetch", Group: g, Err: err}
	}
	return f.Store.Fetch(ctx, g, p)
}

func (f *faultStore) FetchAll(ctx context.Context, g string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	f.mu.Lock()
	f.fetchAlls++
	err := f.fetchAllErr
	f.mu.Unlock()
	if err != nil {
		return nil, &offsetstore.Error{Op: "FetchAll", Group: g, Err: err}
	}
	return f.Store.FetchAll(ctx, g)
}

func (f *faultStore) Delete(ctx context.Context, g string, p []offsetstore.TopicPartition) error {
	f.mu.Lock()
	f.deletes++
	err := f.delErr
	f.mu.Unlock()
	if err != nil {
		return &offsetstore.Error{Op: "Delete", Group: g, Err: err}
	}
	return f.Store.Delete(ctx, g, p)
}

// part is one partition of a commit request.
type part struct {
	p        int32
	offset   int64
	epoch    int32
	metadata *string
}

// commitReq builds an OffsetCommit request at version v. topics alternates topic names and
// partition lists in order: commitReq(v, g, "t", []part{...}, "u", []part{...}).
func commitReq(v int16, group string, gen int32, member string, topics ...any) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation, req.MemberID = v, group, gen, member
	for i := 0; i < len(topics); i += 2 {
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = topics[i].(string)
		for _, p := range topics[i+1].([]part) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.p, p.offset, p.epoch, p.metadata
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
	return req
}

// fetchReq builds an OffsetFetch request at version v for one group: topics alternates topic
// names and []int32 partition lists; no topics at all means null (fetch all) from v2.
func fetchReq(v int16, group string, topics ...any) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = v
	if v >= 8 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		for i := 0; i < len(topics); i += 2 {
			t := kmsg.NewOffsetFetchRequestGroupTopic()
			t.Topic, t.Partitions = topics[i].(string), topics[i+1].([]int32)
			g.Topics = append(g.Topics, t)
		}
		req.Groups = append(req.Groups, g)
		return req
	}
	req.Group = group
	for i := 0; i < len(topics); i += 2 {
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = topics[i].(string), topics[i+1].([]int32)
		req.Topics = append(req.Topics, t)
	}
	if len(topics) == 0 && v < 2 {
		req.Topics = []kmsg.OffsetFetchRequestTopic{}
	}
	return req
}

// commitCodes renders a commit response as sorted "topic/partition=code" strings.
func commitCodes(resp *kmsg.OffsetCommitResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.ErrorCode))
		}
	}
	slices.Sort(out)
	return out
}

// fetched is one answered partition of a fetch response, whatever the version.
type fetched struct {
	Offset   int64
	Epoch    int32
	Metadata string
	Code     int16
	NullMeta bool
}

// fetchGroupResult is one group of a fetch response, whatever the version.
type fetchGroupResult struct {
	Code       int16
	Partitions map[string]fetched // "topic/partition"
	Count      int                // partitions answered, duplicates included
}

// fetchResults flattens a fetch response into one result per group (one for v0-v7).
func fetchResults(resp *kmsg.OffsetFetchResponse) []fetchGroupResult {
	add := func(r *fetchGroupResult, topic string, p int32, o int64, e int32, md *string, code int16) {
		f := fetched{Offset: o, Epoch: e, Code: code, NullMeta: md == nil}
		if md != nil {
			f.Metadata = *md
		}
		r.Partitions[fmt.Sprintf("%s/%d", topic, p)] = f
		r.Count++
	}
	if resp.Version < 8 {
		r := fetchGroupResult{Code: resp.ErrorCode, Partitions: map[string]fetched{}}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				add(&r, t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
			}
		}
		return []fetchGroupResult{r}
	}
	var out []fetchGroupResult
	for _, g := range resp.Groups {
		r := fetchGroupResult{Code: g.ErrorCode, Partitions: map[string]fetched{}}
		for _, t := range g.Topics {
			name := t.Topic
			if resp.Version >= 10 {
				name = fmt.Sprintf("%x", t.TopicID[:2])
			}
			for _, p := range t.Partitions {
				add(&r, name, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
			}
		}
		out = append(out, r)
	}
	return out
}

// deleteCodes renders a delete response as its top-level code and sorted partition codes.
func deleteCodes(resp *kmsg.OffsetDeleteResponse) (int16, []string) {
	var out []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.ErrorCode))
		}
	}
	slices.Sort(out)
	return resp.ErrorCode, out
}

// codes builds the expected "topic/partition=code" list from alternating "topic/p", code pairs.
func codes(kv ...any) []string {
	var out []string
	for i := 0; i < len(kv); i += 2 {
		out = append(out, fmt.Sprintf("%s=%d", kv[i].(string), kv[i+1]))
	}
	slices.Sort(out)
	return out
}

// topicsOf returns a TopicChecker that knows the given topics with their partition counts.
func topicsOf(counts map[string]int32) protocol.TopicChecker {
	return protocol.TopicCheckerFunc(func(_ context.Context, topic string) (int32, bool) {
		n, ok := counts[topic]
		return n, ok
	})
}

// deny returns an Authorizer that refuses the actions whose "OP:TYPE:name" key is listed, for
// example "READ:GROUP:g".
func deny(keys ...string) protocol.Authorizer {
	return protocol.AuthorizerFunc(func(_ context.Context, a protocol.Action) bool {
		ops := map[protocol.Operation]string{protocol.OperationRead: "READ", protocol.OperationWrite: "WRITE",
			protocol.OperationDescribe: "DESCRIBE", protocol.OperationDelete: "DELETE"}
		types := map[protocol.ResourceType]string{protocol.ResourceGroup: "GROUP", protocol.ResourceTopic: "TOPIC",
			protocol.ResourceTransactionalID: "TXNID"}
		key := ops[a.Operation] + ":" + types[a.ResourceType] + ":" + a.Name
		return !slices.Contains(keys, key)
	})
}

func strp(s string) *string { return &s }

// commitOK answers req with h and fails the test on a Go error.
func commitOK(ctx context.Context, t testing.TB, h *protocol.Handler, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	t.Helper()
	resp, err := h.OffsetCommit(ctx, req)
	require.NoError(t, err)
	return resp
}

// fetchOK answers req with h and fails the test on a Go error.
func fetchOK(ctx context.Context, t testing.TB, h *protocol.Handler, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	t.Helper()
	resp, err := h.OffsetFetch(ctx, req)
	require.NoError(t, err)
	return resp
}

// deleteOK answers req with h and fails the test on a Go error.
func deleteOK(ctx context.Context, t testing.TB, h *protocol.Handler, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	t.Helper()
	resp, err := h.OffsetDelete(ctx, req)
	require.NoError(t, err)
	return resp
}

// fetchAllOK returns every stored offset of group and fails the test on an error.
func fetchAllOK(ctx context.Context, t testing.TB, s offsetstore.Store, group string) map[offsetstore.TopicPartition]offsetstore.Offset {
	t.Helper()
	got, err := s.FetchAll(ctx, group)
	require.NoError(t, err)
	return got
}

// listGroupsOK returns the store's groups and fails the test on an error.
func listGroupsOK(ctx context.Context, t testing.TB, s offsetstore.Store) []string {
	t.Helper()
	got, err := s.ListGroups(ctx)
	require.NoError(t, err)
	return got
}
