package groupcoord

import (
	"context"
	"maps"
	"slices"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/twmb/franz-go/pkg/kerr"
)

// GroupActivity implements retention.GroupActivity with Kafka's expiry rules (KIP-211;
// OffsetMetadataManager.cleanupExpiredOffsets; docs/kafka-semantics.md, section 6):
//   - a group the coordinator does not hold, or one without a protocol type, is
//     retention.StateSimple: its offsets expire by commit time;
//   - an Empty group with a protocol type is retention.StateEmpty, with the time it became
//     Empty;
//   - a Stable "consumer" group whose members' subscriptions parse is retention.StateStable,
//     with the union of the topics its generation subscribed to (sorted);
//   - any other state (rebalancing, another protocol type, unparseable subscriptions) is
//     retention.StateActive: nothing expires.
//
// Over a store that implements offsetstore.Fencer the answer carries the group's fence, so
// the sweep deletes nothing once the group has changed since; without one, a join phase
// waits for the sweep's deletion (Activity.Done). After Close it returns
// COORDINATOR_NOT_AVAILABLE, so a sweep skips every group.
func (c *Coordinator) GroupActivity(ctx context.Context, id string) (retention.Activity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return retention.Activity{}, kerr.CoordinatorNotAvailable
	}
	for {
		f, err := c.readyLocked(ctx, id)
		if err != nil {
			return retention.Activity{}, err
		}
		act := c.activityLocked(id)
		if act.State == retention.StateActive {
			return act, nil
		}
		if ok, err := c.orderLocked(ctx, id, f); err != nil {
			return retention.Activity{}, err
		} else if !ok {
			continue
		}
		act.Fenced, act.Fence, act.Done = c.accept(id, f)
		return act, nil
	}
}

// activityLocked is GroupActivity's answer without the fence. c.mu is held.
func (c *Coordinator) activityLocked(id string) retention.Activity {
	g, ok := c.groups[id]
	if !ok || g.protocolType == "" {
		return retention.Activity{State: retention.StateSimple}
	}
	switch g.state {
	case stateEmpty:
		return retention.Activity{State: retention.StateEmpty, EmptySince: g.emptySince}
	case stateStable:
		if g.protocolType != ConsumerProtocolType || g.subscribed == nil {
			break
		}
		return retention.Activity{State: retention.StateStable, Subscribed: slices.Sorted(maps.Keys(g.subscribed))}
	}
	return retention.Activity{State: retention.StateActive}
}

// OffsetsExpired has the shape of retention.Options.OnExpire: when the last offsets of a
// group have expired (groupEmpty) and the group is Empty, with no members and no pending
// joins, the coordinator forgets it, as Kafka deletes such a group in the same cleanup.
// A group that gained members since keeps them and is not touched. A commit that races the
// sweep leaves the group existing through its new offset, as a simple group would.
func (c *Coordinator) OffsetsExpired(group string, _ map[offsetstore.TopicPartition]offsetstore.Offset, groupEmpty bool) {
	if !groupEmpty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.groups[group]; ok && g.forgettable() {
		delete(c.groups, group)
		c.log.Debug("group forgotten: its offsets expired", "group", group)
	}
}

// forgettable reports whether the group holds nothing but its name: Empty, without members
// or pending joins.
func (g *group) forgettable() bool {
	return g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0
}
