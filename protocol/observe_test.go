package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// recorder is an Observer that keeps copies of every event it is given.
type recorder struct {
	mu     sync.Mutex
	events []protocol.RequestEvent
}

func (r *recorder) ObserveRequest(_ context.Context, ev protocol.RequestEvent) {
	if ev.Duration < 0 {
		panic("negative duration")
	}
	ev.Errors = append([]protocol.ErrorCount(nil), ev.Errors...) // the Handler reuses them
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) take() []protocol.RequestEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// counts builds the expected Errors from alternating code, count pairs.
func counts(kv ...int) []protocol.ErrorCount {
	var out []protocol.ErrorCount
	for i := 0; i < len(kv); i += 2 {
		out = append(out, protocol.ErrorCount{Code: int16(kv[i]), Count: kv[i+1]})
	}
	return out
}

// faults are the errors a faultStore returns.
type faults struct{ commitErr, fetchErr, fetchAllErr, delErr error }

// entryPoints are the ways a request reaches a Handler: each must report it exactly once.
var entryPoints = []struct {
	name string
	call func(ctx context.Context, h *protocol.Handler, req kmsg.Request) error
}{
	{"typed", func(ctx context.Context, h *protocol.Handler, req kmsg.Request) error {
		var err error
		switch r := req.(type) {
		case *kmsg.OffsetCommitRequest:
			_, err = h.OffsetCommit(ctx, r)
		case *kmsg.OffsetFetchRequest:
			_, err = h.OffsetFetch(ctx, r)
		case *kmsg.OffsetDeleteRequest:
			_, err = h.OffsetDelete(ctx, r)
		default:
			panic(fmt.Sprintf("no typed method for %T", req))
		}
		return err
	}},
	{"Handle", func(ctx context.Context, h *protocol.Handler, req kmsg.Request) error {
		_, err := h.Handle(ctx, req)
		return err
	}},
	{"Request", func(ctx context.Context, h *protocol.Handler, req kmsg.Request) error {
		_, err := h.Request(ctx, req)
		return err
	}},
	{"HandleBody", func(ctx context.Context, h *protocol.Handler, req kmsg.Request) error {
		_, err := h.HandleBody(ctx, req.Key(), req.GetVersion(), req.AppendTo(nil))
		return err
	}},
}

func TestObserver(t *testing.T) {
	boom := errors.New("disk on fire")
	seed := func(t *testing.T, st offsetstore.Store) {
		t.Helper()
		o := offsetstore.Offset{Offset: 5, LeaderEpoch: -1}
		require.NoError(t, st.Commit(context.Background(), "g", map[offsetstore.TopicPartition]offsetstore.Offset{
			{Topic: "t", Partition: 0}: o, {Topic: "t", Partition: 1}: o,
		}))
	}
	deleteReq := func(group string, topic string, parts ...int32) *kmsg.OffsetDeleteRequest {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return req
	}
	twoGroups := func() *kmsg.OffsetFetchRequest {
		req := fetchReq(8, "g", "t", []int32{0, 1})
		g2 := kmsg.NewOffsetFetchRequestGroup()
		g2.Group = "h"
		req.Groups = append(req.Groups, g2) // null topics: all of h
		return req
	}
	big := "12345"
	ok := strp("ok")

	for _, c := range []struct {
		name      string
		req       kmsg.Request
		opts      protocol.Options
		fault     faults // set on the test's store
		key, ver  int16
		errors    []protocol.ErrorCount
		storeErr  error // matched with errors.Is
		err       error // matched with errors.Is
		wantWrite bool  // the request must have committed something
	}{
		{name: "commit v0 ok", req: commitReq(0, "g", -1, "", "t", []part{{0, 1, -1, ok}}),
			key: kmsg.OffsetCommit.Int16(), ver: 0, wantWrite: true},
		{name: "commit v1 ok", req: commitReq(1, "g", -1, "", "t", []part{{0, 1, -1, ok}}),
			key: kmsg.OffsetCommit.Int16(), ver: 1, wantWrite: true},
		{name: "commit v9 metadata too large twice", req: commitReq(9, "g", -1, "", "t",
			[]part{{0, 1, -1, &big}, {1, 1, -1, ok}, {2, 1, -1, &big}}),
			opts: protocol.Options{MaxMetadataBytes: 4}, key: kmsg.OffsetCommit.Int16(), ver: 9,
			errors: counts(int(kerr.OffsetMetadataTooLarge.Code), 2), wantWrite: true},
		{name: "commit v9 mixed codes", req: commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, &big}, {7, 1, -1, ok}},
			"u", []part{{0, 1, -1, ok}}, "denied", []part{{0, 1, -1, ok}, {1, 1, -1, ok}}),
			opts: protocol.Options{MaxMetadataBytes: 4, Topics: topicsOf(map[string]int32{"t": 4, "denied": 4}),
				Authorizer: deny("READ:TOPIC:denied")},
			key: kmsg.OffsetCommit.Int16(), ver: 9, errors: counts(
				int(kerr.UnknownTopicOrPartition.Code), 2, // t/7, u/0
				int(kerr.OffsetMetadataTooLarge.Code), 1, // t/0
				int(kerr.TopicAuthorizationFailed.Code), 2)}, // denied/0, denied/1
		{name: "commit v9 store failure", req: commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, ok}, {1, 1, -1, ok}}),
			fault: faults{commitErr: boom}, key: kmsg.OffsetCommit.Int16(), ver: 9,
			errors: counts(int(kerr.CoordinatorNotAvailable.Code), 2), storeErr: boom},
		{name: "commit v9 store failure in group check", req: commitReq(9, "g", 3, "m", "t", []part{{0, 1, -1, ok}}),
			fault: faults{fetchAllErr: boom}, key: kmsg.OffsetCommit.Int16(), ver: 9,
			errors: counts(int(kerr.CoordinatorNotAvailable.Code), 1), storeErr: boom},
		{name: "commit v11 unsupported", req: commitReq(11, "g", -1, "", "t", []part{{0, 1, -1, ok}}),
			key: kmsg.OffsetCommit.Int16(), ver: 11, err: protocol.ErrUnsupported},
		{name: "commit v10 unsupported without TopicIDs", req: commitReq(10, "g", -1, "", "t", []part{{0, 1, -1, ok}}),
			key: kmsg.OffsetCommit.Int16(), ver: 10, err: protocol.ErrUnsupported},
		{name: "fetch v0 ok", req: fetchReq(0, "g", "t", []int32{0, 1, 2}), key: kmsg.OffsetFetch.Int16(), ver: 0},
		{name: "fetch v1 store failure on every partition", req: fetchReq(1, "g", "t", []int32{0, 1, 2}),
			fault: faults{fetchErr: boom}, key: kmsg.OffsetFetch.Int16(), ver: 1,
			errors: counts(int(kerr.NotCoordinator.Code), 3), storeErr: boom},
		{name: "fetch v5 store failure at top level", req: fetchReq(5, "g", "t", []int32{0, 1, 2}),
			fault: faults{fetchErr: boom}, key: kmsg.OffsetFetch.Int16(), ver: 5,
			errors: counts(int(kerr.NotCoordinator.Code), 1), storeErr: boom},
		{name: "fetch v7 all ok", req: fetchReq(7, "g"), key: kmsg.OffsetFetch.Int16(), ver: 7},
		{name: "fetch v7 all, store failure", req: fetchReq(7, "g"), fault: faults{fetchAllErr: boom},
			key: kmsg.OffsetFetch.Int16(), ver: 7, errors: counts(int(kerr.NotCoordinator.Code), 1), storeErr: boom},
		{name: "fetch v8 two groups, store failure on each", req: twoGroups(),
			fault: faults{fetchErr: boom, fetchAllErr: boom}, key: kmsg.OffsetFetch.Int16(), ver: 8,
			errors: counts(int(kerr.NotCoordinator.Code), 2), storeErr: boom},
		{name: "fetch v9 topic denied", req: fetchReq(9, "g", "t", []int32{0}, "denied", []int32{0, 1}),
			opts: protocol.Options{Authorizer: deny("DESCRIBE:TOPIC:denied")}, key: kmsg.OffsetFetch.Int16(), ver: 9,
			errors: counts(int(kerr.TopicAuthorizationFailed.Code), 2)},
		{name: "fetch v9 group denied", req: fetchReq(9, "g", "t", []int32{0}),
			opts: protocol.Options{Authorizer: deny("DESCRIBE:GROUP:g")}, key: kmsg.OffsetFetch.Int16(), ver: 9,
			errors: counts(int(kerr.GroupAuthorizationFailed.Code), 1)},
		{name: "fetch v10 unsupported without TopicIDs", req: fetchReq(10, "g", "t", []int32{0}),
			key: kmsg.OffsetFetch.Int16(), ver: 10, err: protocol.ErrUnsupported},
		{name: "delete ok", req: deleteReq("g", "t", 0, 1), key: kmsg.OffsetDelete.Int16(), ver: 0},
		{name: "delete unknown group", req: deleteReq("nobody", "t", 0), key: kmsg.OffsetDelete.Int16(), ver: 0,
			errors: counts(int(kerr.GroupIDNotFound.Code), 1)},
		{name: "delete unknown partitions", req: deleteReq("g", "t", 0, 5, 6),
			opts: protocol.Options{Topics: topicsOf(map[string]int32{"t": 2})}, key: kmsg.OffsetDelete.Int16(), ver: 0,
			errors: counts(int(kerr.UnknownTopicOrPartition.Code), 2)},
		{name: "delete store failure", req: deleteReq("g", "t", 0), fault: faults{delErr: boom},
			key: kmsg.OffsetDelete.Int16(), ver: 0, errors: counts(int(kerr.CoordinatorNotAvailable.Code), 1), storeErr: boom},
		{name: "delete v1 unsupported", req: func() kmsg.Request { r := deleteReq("g", "t", 0); r.Version = 1; return r }(),
			key: kmsg.OffsetDelete.Int16(), ver: 1, err: protocol.ErrUnsupported},
	} {
		for _, ep := range entryPoints {
			t.Run(c.name+"/"+ep.name, func(t *testing.T) {
				ctx := context.Background()
				st := &faultStore{Store: newStore(t)}
				seed(t, st)
				st.commitErr, st.fetchErr, st.fetchAllErr, st.delErr =
					c.fault.commitErr, c.fault.fetchErr, c.fault.fetchAllErr, c.fault.delErr
				rec := &recorder{}
				opts := c.opts
				opts.Observer = rec
				h := protocol.New(st, opts)
				err := ep.call(ctx, h, c.req)
				if c.err == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, c.err)
				}
				evs := rec.take()
				require.Equal(t, 1, len(evs), "events per request")
				ev := evs[0]
				assert.Equal(t, c.key, ev.Key, "Key")
				assert.Equal(t, c.ver, ev.Version, "Version")
				assert.Equal(t, c.errors, ev.Errors, "Errors")
				assert.ErrorIs(t, ev.StoreErr, c.storeErr, "StoreErr") // nil wants nil
				assert.ErrorIs(t, ev.Err, c.err, "Err")                // nil wants nil
				if c.err != nil {
					assert.Equal(t, err, ev.Err, "Err is the returned error")
				}
				if c.wantWrite {
					assert.GreaterOrEqual(t, st.commits, 2, "the request did not commit")
				}
			})
		}
	}
}

// Requests that only some entry points can express: each is still reported once.
func TestObserverEntryPointErrors(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	h := protocol.New(newStore(t), protocol.Options{Observer: rec})
	one := func(t *testing.T, key, version int16, target error) {
		t.Helper()
		evs := rec.take()
		require.Equal(t, 1, len(evs), "events per request")
		ev := evs[0]
		assert.Equal(t, key, ev.Key, "Key")
		assert.Equal(t, version, ev.Version, "Version")
		assert.Empty(t, ev.Errors, "Errors")
		assert.ErrorIs(t, ev.Err, target, "Err")
	}

	t.Run("HandleBody malformed", func(t *testing.T) {
		_, err := h.HandleBody(ctx, kmsg.OffsetCommit.Int16(), 2, []byte{0, 10, 'a'}) // a 10-byte group id cut short
		require.ErrorIs(t, err, protocol.ErrMalformed)
		one(t, kmsg.OffsetCommit.Int16(), 2, protocol.ErrMalformed)
	})
	t.Run("HandleBody unknown key", func(t *testing.T) {
		_, err := h.HandleBody(ctx, kmsg.ApiVersions.Int16(), 3, nil)
		require.ErrorIs(t, err, protocol.ErrUnsupported)
		one(t, kmsg.ApiVersions.Int16(), 3, protocol.ErrUnsupported)
	})
	t.Run("Handle other API", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		_, err := h.Handle(ctx, req)
		require.ErrorIs(t, err, protocol.ErrUnsupported)
		one(t, kmsg.ApiVersions.Int16(), 3, protocol.ErrUnsupported)
	})
	t.Run("Handle nil", func(t *testing.T) {
		_, err := h.Handle(ctx, nil)
		require.ErrorIs(t, err, protocol.ErrMalformed)
		one(t, -1, -1, protocol.ErrMalformed)
	})
	t.Run("typed nil", func(t *testing.T) {
		_, err1 := h.OffsetCommit(ctx, nil)
		one(t, kmsg.OffsetCommit.Int16(), -1, protocol.ErrMalformed)
		_, err2 := h.OffsetFetch(ctx, nil)
		one(t, kmsg.OffsetFetch.Int16(), -1, protocol.ErrMalformed)
		_, err3 := h.OffsetDelete(ctx, nil)
		one(t, kmsg.OffsetDelete.Int16(), -1, protocol.ErrMalformed)
		assert.Error(t, err1, "a nil OffsetCommit request accepted")
		assert.Error(t, err2, "a nil OffsetFetch request accepted")
		assert.Error(t, err3, "a nil OffsetDelete request accepted")
	})
}
