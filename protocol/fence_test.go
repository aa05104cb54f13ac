package protocol_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// scriptedValidator answers each ValidateGroup with the next step of its script (the last one
// repeats) and records every Done call.
type scriptedValidator struct {
	mu    sync.Mutex
	steps []step
	asked int
	dones []error // one per Done call, in order
}

// step is one answer: accept under a fence (err nil or ErrNoActiveGroup), or refuse (err).
type step struct {
	fence  int64
	err    error
	subscr []string
}

func (v *scriptedValidator) ValidateGroup(_ context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.steps[min(v.asked, len(v.steps)-1)]
	v.asked++
	if s.err != nil && !errors.Is(s.err, protocol.ErrNoActiveGroup) {
		return protocol.GroupResult{}, s.err
	}
	return protocol.GroupResult{
		Subscribed: s.subscr,
		Fenced:     true,
		Fence:      s.fence,
		Done: func(err error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.dones = append(v.dones, err)
		},
	}, s.err
}

// doneErrs renders the Done calls: "nil" or "fenced" or the error text.
func (v *scriptedValidator) doneErrs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, err := range v.dones {
		switch {
		case err == nil:
			out = append(out, "nil")
		case errors.Is(err, offsetstore.ErrFenced):
			out = append(out, "fenced")
		default:
			out = append(out, err.Error())
		}
	}
	return out
}

// fencedStore returns a memstore whose group "g" is at fence 1 and holds t/0 = 5.
func fencedStore(t *testing.T) *memstore.Store {
	t.Helper()
	s := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	_, err := offsetstore.AdvanceFence(ctx, s, "g")
	require.NoError(t, err)
	require.NoError(t, s.CommitFenced(ctx, "g", 1, map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: 0}: {Offset: 5, LeaderEpoch: -1}}))
	return s
}

// The Handler writes under the acceptance's fence, reports every write to its acceptance's
// Done exactly once, and when the store refuses a write because the fence moved asks the
// validator again and answers with its new verdict.
func TestFencedCommit(t *testing.T) {
	tooBig := strings.Repeat("m", protocol.DefaultMaxMetadataBytes+1)
	for _, tt := range []struct {
		name   string
		steps  []step
		req    *kmsg.OffsetCommitRequest
		want   []string // response codes
		stored int64    // t/0 afterwards
		dones  []string
	}{
		{"current fence: written", []step{{fence: 1}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}}), codes("t/0", 0), 100, []string{"nil"}},
		{"stale fence, then the current one: written by the second acceptance", []step{{fence: 0}, {fence: 1}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}}), codes("t/0", 0), 100, []string{"fenced", "nil"}},
		{"stale fence, then a refusal: its code, nothing written", []step{{fence: 0}, {err: kerr.IllegalGeneration}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}}), codes("t/0", 22), 5, []string{"fenced"}},
		{"a refusal after the fence moved also covers partitions the metadata check refused", []step{{fence: 0}, {err: kerr.RebalanceInProgress}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}, {1, 1, -1, &tooBig}}), codes("t/0", 27, "t/1", 27), 5, []string{"fenced"}},
		{"always stale: a retriable store failure after four rounds", []step{{fence: 0}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}}), codes("t/0", 15), 5, []string{"fenced", "fenced", "fenced", "fenced"}},
		{"nothing to write: Done at once", []step{{fence: 1}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, &tooBig}}), codes("t/0", 12), 5, []string{"nil"}},
		{"no active group, generation -1: written under the fence", []step{{fence: 1, err: protocol.ErrNoActiveGroup}},
			commitReq(9, "g", -1, "", "t", []part{{0, 100, -1, nil}}), codes("t/0", 0), 100, []string{"nil"}},
		{"no active group, generation 3: refused, Done at once", []step{{fence: 1, err: protocol.ErrNoActiveGroup}},
			commitReq(9, "g", 3, "m", "t", []part{{0, 100, -1, nil}}), codes("t/0", 25), 5, []string{"nil"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fencedStore(t)
			v := &scriptedValidator{steps: tt.steps}
			h := protocol.New(s, protocol.Options{Groups: v, Now: clock})
			resp := commitOK(context.Background(), t, h, tt.req)
			require.Equal(t, tt.want, commitCodes(resp))
			got := fetchAllOK(context.Background(), t, s, "g")
			require.Equal(t, tt.stored, got[offsetstore.TopicPartition{Topic: "t", Partition: 0}].Offset)
			require.Equal(t, tt.dones, v.doneErrs())
		})
	}
}

// OffsetDelete asked again after its fence moved takes the new acceptance's subscriptions.
func TestFencedDelete(t *testing.T) {
	for _, tt := range []struct {
		name    string
		steps   []step
		wantTop int16
		want    []string
		stored  bool
		dones   []string
	}{
		{"current fence: deleted", []step{{fence: 1}}, 0, codes("t/0", 0), false, []string{"nil"}},
		{"stale fence, then subscribed", []step{{fence: 0}, {fence: 1, subscr: []string{"t"}}}, 0, codes("t/0", 86), true, []string{"fenced", "nil"}},
		{"stale fence, then the group has members of another protocol", []step{{fence: 0}, {err: kerr.NonEmptyGroup}}, 68, nil, true, []string{"fenced"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fencedStore(t)
			v := &scriptedValidator{steps: tt.steps}
			h := protocol.New(s, protocol.Options{Groups: v, Now: clock})
			req := kmsg.NewPtrOffsetDeleteRequest()
			req.Group = "g"
			req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
			top, parts := deleteCodes(deleteOK(context.Background(), t, h, req))
			require.Equal(t, tt.wantTop, top)
			require.Equal(t, tt.want, parts)
			_, ok := fetchAllOK(context.Background(), t, s, "g")[offsetstore.TopicPartition{Topic: "t", Partition: 0}]
			require.Equal(t, tt.stored, ok)
			require.Equal(t, tt.dones, v.doneErrs())
		})
	}
}

// A fetch's acceptance writes nothing: its Done is called at once.
func TestFencedFetchReleases(t *testing.T) {
	s := fencedStore(t)
	v := &scriptedValidator{steps: []step{{fence: 1}}}
	h := protocol.New(s, protocol.Options{Groups: v, Now: clock})
	fetchOK(context.Background(), t, h, fetchReq(8, "g", "t", []int32{0}))
	require.Equal(t, []string{"nil"}, v.doneErrs())
}
