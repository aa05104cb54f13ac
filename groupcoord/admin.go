package groupcoord

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the authorized-operations bit field of a group when every operation is
// allowed (READ, DELETE, DESCRIBE), for DescribeGroups v3+ with IncludeAuthorizedOperations.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups serves a DescribeGroups request (v0-v6). A group that exists only through its
// offsets is described as Kafka describes a simple group: Empty, with no protocol type. A group
// that does not exist is Dead with no error before v6, and GROUP_ID_NOT_FOUND from v6 on.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		}
		if !c.describeActive(&dg) {
			c.describeStored(ctx, req.Version, &dg)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// describeActive fills dg from the coordinator's state and reports whether it holds the group.
func (c *Coordinator) describeActive(dg *kmsg.DescribeGroupsResponseGroup) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return true
	}
	g, ok := c.groups[dg.Group]
	if !ok || g.state == stateDead {
		return false
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = clonePtr(m.instanceID)
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadata(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return true
}

func (c *Coordinator) describeStored(ctx context.Context, version int16, dg *kmsg.DescribeGroupsResponseGroup) {
	exists, err := c.hasOffsets(ctx, dg.Group)
	switch {
	case err != nil:
		dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case exists:
		dg.State = stateEmpty.String()
	case version >= 6:
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		dg.ErrorMessage = strPtr("Group " + dg.Group + " not found.")
	default:
		dg.State = stateDead.String()
	}
}

func (c *Coordinator) hasOffsets(ctx context.Context, group string) (bool, error) {
	if c.store == nil {
		return false, nil
	}
	offsets, err := c.store.FetchAll(ctx, group)
	if err != nil {
		return false, err
	}
	return len(offsets) > 0, nil
}

// ListGroups serves a ListGroups request (v0-v5): the coordinator's groups and, as Empty
// classic groups with no protocol type, the groups that exist only through stored offsets.
// v4's state filter and v5's type filter are applied, case-insensitively.
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	keep := func(state string) bool {
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, state) {
			return false
		}
		return len(req.TypesFilter) == 0 || containsFold(req.TypesFilter, "classic")
	}
	add := func(id, protocolType, state string) {
		if !keep(state) {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = protocolType
		lg.GroupState = state
		lg.GroupType = "classic"
		resp.Groups = append(resp.Groups, lg)
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	seen := make(map[string]bool, len(c.groups))
	for id, g := range c.groups {
		seen[id] = true
		if g.state != stateDead {
			add(id, g.protocolType, g.state.String())
		}
	}
	c.mu.Unlock()

	if c.store != nil {
		stored, err := c.store.ListGroups(ctx)
		if err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		for _, id := range stored {
			if !seen[id] {
				add(id, "", stateEmpty.String())
			}
		}
	}
	return resp
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// DeleteGroups serves a DeleteGroups request (v0-v3): a group with members gets
// NON_EMPTY_GROUP, a group that neither the coordinator nor the store knows gets
// GROUP_ID_NOT_FOUND, and otherwise the group and all its offsets are deleted. While its
// offsets are being deleted the group is Dead, so offset commits to it are refused with
// COORDINATOR_NOT_AVAILABLE, as Kafka refuses commits to a group it is unloading.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(ctx, id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	if id == "" {
		return kerr.InvalidGroupID.Code
	}
	for round := 1; ; round++ {
		code, err := c.deleteGroupOnce(ctx, id)
		if !errors.Is(err, offsetstore.ErrFenced) || round == maxDeleteRounds {
			return code
		}
		// The group changed while its offsets were being deleted, and nothing was: decide
		// again on the changed group.
	}
}

// maxDeleteRounds bounds how often a DeleteGroups of one group decides again after the
// group changed under its deletion.
const maxDeleteRounds = 4

// deletableLocked waits until group id can be deleted: its fence is ready and its previous
// write ended. It returns the fence, the group and whether the coordinator holds it, or the
// code that refuses the deletion. c.mu is held on entry and on return.
func (c *Coordinator) deletableLocked(ctx context.Context, id string) (f *gfence, g *group, active bool, code int16) {
	for {
		if c.closed {
			return nil, nil, false, kerr.CoordinatorNotAvailable.Code
		}
		f, err := c.readyLocked(ctx, id)
		if err != nil {
			return nil, nil, false, kerr.CoordinatorNotAvailable.Code
		}
		g, active := c.groups[id]
		switch {
		case active && g.state == stateDead:
			return nil, nil, false, kerr.GroupIDNotFound.Code
		case active && g.state != stateEmpty:
			return nil, nil, false, kerr.NonEmptyGroup.Code
		}
		if ok, err := c.orderLocked(ctx, id, f); err != nil {
			return nil, nil, false, kerr.CoordinatorNotAvailable.Code
		} else if ok {
			return f, g, active, 0
		}
	}
}

// deleteGroupOnce deletes group id unless it has members. Over a fencing store the deletion is
// conditioned on the group's fence, so a member that joins meanwhile keeps the group (the
// deletion fails with ErrFenced); without one the group is Dead while its offsets are being
// deleted, refusing commits and joins with COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) deleteGroupOnce(ctx context.Context, id string) (int16, error) {
	c.mu.Lock()
	f, g, active, code := c.deletableLocked(ctx, id)
	if code != 0 {
		c.mu.Unlock()
		return code, nil
	}
	prevState := stateEmpty
	if c.fencer == nil {
		if !active {
			g = newGroup(id, time.Time{})
			c.groups[id] = g
		}
		g.state = stateDead
	}
	fenced, epoch, done := c.accept(id, f)
	c.mu.Unlock()

	err := offsetstore.ErrGroupNotFound
	switch {
	case fenced:
		err = c.fencer.DeleteGroupFenced(ctx, id, epoch)
	case c.store != nil:
		err = c.store.DeleteGroup(ctx, id)
	}
	notFound := errors.Is(err, offsetstore.ErrGroupNotFound)
	if notFound {
		done(nil)
	} else {
		done(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.groups[id]
	switch {
	case err != nil && !notFound:
		if c.fencer == nil && cur == g {
			if active {
				g.state = prevState // keep the group, Empty since when it was: nothing was (reliably) deleted
			} else {
				delete(c.groups, id)
			}
		}
		if errors.Is(err, offsetstore.ErrFenced) {
			return kerr.CoordinatorNotAvailable.Code, err
		}
		c.log.Warn("delete group: store failed", "group", id, "err", err)
		return kerr.CoordinatorNotAvailable.Code, nil
	case cur != nil && (cur == g || cur.forgettable()):
		delete(c.groups, id)
	}
	if active || !notFound {
		// The group's durable state goes with it; its fence moves on.
		f.cleared = true
		if c.fencer != nil {
			f.ready = false
			f.changes++
			if f.busy == nil {
				c.startMove(id, f)
			}
		}
	}
	if notFound && !active {
		return kerr.GroupIDNotFound.Code, nil
	}
	return 0, nil
}
