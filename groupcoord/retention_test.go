package groupcoord

import (
	"context"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupActivity checks the answer to the retention hook for each group state, against
// the table of docs/kafka-semantics.md, section 6 (KIP-211). Each case builds its group through the
// coordinator's own APIs.
func TestGroupActivity(t *testing.T) {
	protos := func(name string, meta []byte) []kmsg.JoinGroupRequestProtocol {
		return []kmsg.JoinGroupRequestProtocol{{Name: name, Metadata: meta}}
	}
	tests := []struct {
		name  string
		setup func(f *fixture) // builds group "g"
		want  func(f *fixture) retention.Activity
	}{
		{
			name:  "unknown group is simple",
			setup: func(*fixture) {},
			want:  func(*fixture) retention.Activity { return retention.Activity{State: retention.StateSimple} },
		},
		{
			name: "group with only a pending join has no protocol type: simple",
			setup: func(f *fixture) {
				first := f.c.JoinGroup(context.Background(), joinReq("g", joinOpts{}), "c", "/h")
				require.Equal(t, kerr.MemberIDRequired.Code, first.ErrorCode)
			},
			want: func(*fixture) retention.Activity { return retention.Activity{State: retention.StateSimple} },
		},
		{
			name: "Empty with a protocol type: empty since the last member left",
			setup: func(f *fixture) {
				m, _ := f.stableStatic("g", joinOpts{})
				f.clock.Advance(time.Minute)
				require.Zero(t, f.leave("g", m))
				f.waitState("g", stateEmpty)
				f.clock.Advance(time.Minute) // later commits or ticks do not move EmptySince
			},
			want: func(f *fixture) retention.Activity {
				return retention.Activity{State: retention.StateEmpty, EmptySince: f.clock.Now().Add(-time.Minute)}
			},
		},
		{
			name: "Stable consumer group: subscribed topics",
			setup: func(f *fixture) {
				f.stableStatic("g", joinOpts{protocols: protos("range", consumerMeta("b", "a", "b"))})
			},
			want: func(*fixture) retention.Activity {
				return retention.Activity{State: retention.StateStable, Subscribed: []string{"a", "b"}}
			},
		},
		{
			name: "Stable group of another protocol type: active",
			setup: func(f *fixture) {
				f.stableStatic("g", joinOpts{protoType: "connect", protocols: protos("default", []byte("x"))})
			},
			want: func(*fixture) retention.Activity { return retention.Activity{State: retention.StateActive} },
		},
		{
			name: "Stable consumer group with unparseable subscriptions: active",
			setup: func(f *fixture) {
				f.stableStatic("g", joinOpts{protocols: protos("range", []byte{0xff})})
			},
			want: func(*fixture) retention.Activity { return retention.Activity{State: retention.StateActive} },
		},
		{
			name: "PreparingRebalance: active",
			setup: func(f *fixture) {
				f.stableStatic("g", joinOpts{})
				f.setState("g", statePreparingRebalance)
			},
			want: func(*fixture) retention.Activity { return retention.Activity{State: retention.StateActive} },
		},
		{
			name: "CompletingRebalance: active",
			setup: func(f *fixture) {
				f.stableStatic("g", joinOpts{})
				f.setState("g", stateCompletingRebalance)
			},
			want: func(*fixture) retention.Activity { return retention.Activity{State: retention.StateActive} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			got, err := f.c.GroupActivity(context.Background(), "g")
			require.NoError(t, err)
			want := tt.want(f)
			require.Equal(t, want.State, got.State)
			require.Equal(t, want.Subscribed, got.Subscribed)
			require.True(t, want.EmptySince.Equal(got.EmptySince), "EmptySince %v, want %v", got.EmptySince, want.EmptySince)
		})
	}
}

func TestGroupActivityAfterClose(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.c.Close())
	_, err := f.c.GroupActivity(context.Background(), "g")
	require.ErrorIs(t, err, kerr.CoordinatorNotAvailable)
}

func (f *fixture) held(group string) bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	_, ok := f.c.groups[group]
	return ok
}

// TestOffsetsExpiredForgetsOnlyIdleGroups: the sweeper's OnExpire forgets an Empty group whose
// last offset expired, and nothing else.
func TestOffsetsExpiredForgetsOnlyIdleGroups(t *testing.T) {
	f := newFixture(t)
	m, _ := f.stableStatic("empty", joinOpts{})
	require.Zero(t, f.leave("empty", m))
	f.waitState("empty", stateEmpty)
	f.stableStatic("stable", joinOpts{})

	f.c.OffsetsExpired("empty", nil, false)
	require.True(t, f.held("empty"), "offsets left: kept")
	f.c.OffsetsExpired("stable", nil, true)
	require.True(t, f.held("stable"), "live members: kept")
	f.c.OffsetsExpired("empty", nil, true)
	require.False(t, f.held("empty"), "Empty and no offsets left: forgotten")
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "empty", Generation: -1})
	require.ErrorIs(t, err, protocol.ErrNoActiveGroup)
}

// TestEmptyGroupWithOffsetsIsKept: the coordinator's own idle cleanup keeps an Empty group
// that still has offsets (so retention counts from when it became Empty) and forgets it once
// they are gone.
func TestEmptyGroupWithOffsetsIsKept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m, _ := f.stableStatic("g", joinOpts{})
	require.Zero(t, f.leave("g", m))
	f.waitState("g", stateEmpty)
	tp := offsetstore.TopicPartition{Topic: "a", Partition: 0}
	require.NoError(t, f.store.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 1, LeaderEpoch: -1}}))

	f.expireAfter(11 * time.Minute)
	require.True(t, f.held("g"), "has offsets: kept")
	act, err := f.c.GroupActivity(ctx, "g")
	require.NoError(t, err)
	require.Equal(t, retention.StateEmpty, act.State)

	require.NoError(t, f.store.Delete(ctx, "g", []offsetstore.TopicPartition{tp}))
	f.expireAfter(time.Minute)
	require.True(t, f.held("g"), "the store is asked again only after EmptyGroupRetention")
	f.expireAfter(10 * time.Minute)
	require.False(t, f.held("g"), "no offsets: forgotten")
}
