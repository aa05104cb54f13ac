package offsetstore

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrFenced is returned by a fenced write (see Fencer) when the group's fence is no longer the
// one the write carried: the write was not applied.
var ErrFenced = errors.New("offsetstore: group fence moved")

// GroupState is what a store keeps of a group besides its offsets: its fence, and the facts
// of the group that Kafka persists with group metadata records and that offset retention and
// a restarted coordinator depend on (KIP-211).
//
// A GroupState whose fields other than Fence are all zero means the coordinator keeps no state
// for the group (it was never a group with members, or it was deleted); only its fence is kept.
type GroupState struct {
	// Fence is the group's fence epoch. Every write conditioned on the group's fence carries
	// the epoch it was checked against and applies only while the stored epoch is the same.
	// Fences start at 0 and only move forward.
	Fence int64
	// ProtocolType is the group's protocol type ("consumer", "connect", ...), "" for none.
	ProtocolType string
	// Protocol is the protocol the current generation chose, "" for none.
	Protocol string
	// Generation is the group's generation id.
	Generation int32
	// Empty reports whether the group has no members.
	Empty bool
	// StateTime is when the group entered its current state: for an Empty group, when it
	// became Empty (Kafka's currentStateTimestamp). Kept to the millisecond.
	StateTime time.Time
	// Subscribed lists the topics the current generation's members subscribe to, sorted and
	// without duplicates, or nil when they are unknown (not every protocol type says). nil
	// and an empty, non-nil slice differ, as Kafka's Optional.empty() and an empty set do
	// (ClassicGroup.subscribedTopics: an Empty consumer group subscribes to nothing): a store
	// returns nil for nil and an empty non-nil slice for an empty one.
	Subscribed []string
}

// IsZero reports whether st holds no coordinator state: every field but Fence is zero.
func (st GroupState) IsZero() bool {
	return st.ProtocolType == "" && st.Protocol == "" && st.Generation == 0 && !st.Empty &&
		st.StateTime.IsZero() && st.Subscribed == nil
}

// Clone returns a copy of st that shares no memory with it, its time truncated to the
// millisecond as a store keeps it.
func (st GroupState) Clone() GroupState {
	st.Subscribed = slices.Clone(st.Subscribed)
	st.StateTime = normTime(st.StateTime)
	return st
}

// Fencer is the capability that makes writes impossible to lose a race: every write can be
// conditioned on the group's fence epoch, evaluated by the store at the moment it applies the
// write (under the same lock or in the same conditional transaction as the write itself), so
// a write delayed anywhere (in the caller, on the network, in a paused server) can never land
// after the fence moved. A group coordinator moves the fence whenever the facts a write was
// checked against change (a new generation, a new owner of the group, a write that timed
// out), and keeps the group's durable state with it.
//
// The rules, checked by package storetest:
//
//   - A group's fence starts at 0 with a zero GroupState and only moves forward. It is kept
//     apart from the group's offsets: DeleteGroup and Delete never reset it.
//   - SaveGroupState replaces the group's state, fence included, only if the stored fence is
//     still prev; otherwise it fails with ErrFenced and changes nothing. st.Fence below prev
//     fails with ErrInvalid. Saving with st.Fence == prev keeps the fence and replaces the
//     state; st.Fence > prev advances it, fencing every write that carries an older epoch.
//   - CommitFenced, DeleteFenced, DeleteGroupFenced and ExpireOffsetsFenced behave exactly as
//     Commit, Delete, DeleteGroup and ExpireOffsets when the group's fence is fence at the
//     moment the store applies them, and otherwise fail with ErrFenced having applied
//     nothing. A batch a store applies in several steps checks the fence at each step, so a
//     failure may leave a prefix applied, but never a part applied after the fence moved.
//   - GroupState returns the stored state (times to the millisecond, Subscribed nil or empty
//     as saved); GroupStates returns every group whose state is not zero (IsZero), keyed by
//     group. A group whose fence moved but whose state is zero is not listed.
//   - Errors, contexts, Close and copying follow the Store contract; ErrFenced comes wrapped
//     in *Error like the other sentinels.
//
// Fallback: without a Fencer a coordinator cannot condition writes; it must serialize instead:
// a change of the facts a write was checked against waits until every write checked against
// the old facts has returned, and a write that returned an error (a timeout included) must be
// known not to land later before the next write is acknowledged. That needs a store whose
// calls, once returned, never apply later (memstore is such a store; a remote one usually is
// not). Group state is then kept only in the coordinator's memory.
type Fencer interface {
	GroupState(ctx context.Context, group string) (GroupState, error)
	GroupStates(ctx context.Context) (map[string]GroupState, error)
	SaveGroupState(ctx context.Context, group string, prev int64, st GroupState) error

	CommitFenced(ctx context.Context, group string, fence int64, offsets map[TopicPartition]Offset) error
	DeleteFenced(ctx context.Context, group string, fence int64, partitions []TopicPartition) error
	DeleteGroupFenced(ctx context.Context, group string, fence int64) error
	ExpireOffsetsFenced(ctx context.Context, group string, fence int64, expired func(TopicPartition, Offset) bool) (map[TopicPartition]Offset, error)
}

// AdvanceFence moves group's fence forward by one, keeping its state, and returns the new
// epoch. It reads the state and saves it conditioned on the epoch it read, retrying (up to a
// few times, then failing with ErrFenced) when another writer moved the fence in between.
//
// The condition covers the fence, not the state: a SaveGroupState that keeps the fence and
// lands between AdvanceFence's read and its save is overwritten with the state read. A
// coordinator that saves states with an unchanged fence therefore advances fences from the
// same goroutine (or under the same lock) as those saves, or advances by saving the new
// state with a greater fence itself.
func AdvanceFence(ctx context.Context, f Fencer, group string) (int64, error) {
	var err error
	for range 8 {
		var st GroupState
		st, err = f.GroupState(ctx, group)
		if err != nil {
			return 0, err
		}
		prev := st.Fence
		st.Fence++
		err = f.SaveGroupState(ctx, group, prev, st)
		if err == nil {
			return st.Fence, nil
		}
		if !errors.Is(err, ErrFenced) {
			return 0, err
		}
	}
	return 0, err
}
