package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/ownership"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file makes the gateway one member of a cluster of gateways sharing a store, when
// Options.Cluster is set: Metadata lists every live member as a broker, FindCoordinator
// names the member that owns the group's shard (the same answer from every member), and
// group requests for a group this member does not own get NOT_COORDINATOR (or
// COORDINATOR_LOAD_IN_PROGRESS while its shard loads). Offset requests get the same codes
// from the Store of the node (ownership.Store), which the caller passes as Options.Store.

// selfID returns this gateway's broker id.
func (s *Server) selfID() int32 {
	if s.node == nil {
		return NodeID
	}
	return s.node.ID()
}

// selfBroker returns the broker entry of this gateway for a connection: its advertised
// address in a cluster, the connection's local address otherwise.
func (s *Server) selfBroker(c *conn) kmsg.MetadataResponseBroker {
	if s.node != nil {
		if b, ok := brokerAt(s.node.ID(), s.node.Addr()); ok {
			return b
		}
	}
	b := *c.self
	b.NodeID = s.selfID()
	return b
}

// brokerAt returns the broker entry of a member advertised at addr (host:port).
func brokerAt(id int32, addr string) (kmsg.MetadataResponseBroker, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return kmsg.MetadataResponseBroker{}, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return kmsg.MetadataResponseBroker{}, false
	}
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = id, host, int32(p)
	return b, true
}

// brokers returns the brokers Metadata reports: every live member of the cluster (this
// gateway always among them), or this gateway alone.
func (s *Server) brokers(c *conn) []kmsg.MetadataResponseBroker {
	out := []kmsg.MetadataResponseBroker{s.selfBroker(c)}
	if s.node == nil {
		return out
	}
	for _, m := range s.node.Members() {
		if m.ID == s.node.ID() {
			continue
		}
		if b, ok := brokerAt(m.ID, m.Addr); ok {
			out = append(out, b)
		}
	}
	return out
}

// coordinatorOf returns the broker that coordinates group, or the error code to answer
// FindCoordinator with when no member owns the group's shard at the moment.
func (s *Server) coordinatorOf(c *conn, group string) (kmsg.MetadataResponseBroker, int16) {
	if s.node == nil {
		return s.selfBroker(c), 0
	}
	m, ok := s.node.Coordinator(group)
	if !ok {
		return kmsg.MetadataResponseBroker{NodeID: -1, Port: -1}, kerr.CoordinatorNotAvailable.Code
	}
	if m.ID == s.node.ID() {
		return s.selfBroker(c), 0
	}
	b, ok := brokerAt(m.ID, m.Addr)
	if !ok {
		return kmsg.MetadataResponseBroker{NodeID: -1, Port: -1}, kerr.CoordinatorNotAvailable.Code
	}
	return b, 0
}

// groupCode returns the code a group request gets at this gateway: 0 when it coordinates
// group, NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS otherwise.
func (s *Server) groupCode(group string) int16 {
	if s.node == nil {
		return 0
	}
	err := s.node.Serves(group)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, offsetstore.ErrLoading):
		return kerr.CoordinatorLoadInProgress.Code
	}
	return kerr.NotCoordinator.Code
}

// refuseGroup answers a classic group request for a group this gateway does not coordinate,
// or returns nil to let the coordinator answer. DescribeGroups and DeleteGroups, which name
// several groups, are split: the groups this gateway coordinates go to the coordinator.
func (s *Server) refuseGroup(ctx context.Context, req kmsg.Request) kmsg.Response {
	if s.node == nil {
		return nil
	}
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		if code := s.groupCode(r.Group); code != 0 {
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, r.MemberID
			return resp
		}
	case *kmsg.SyncGroupRequest:
		if code := s.groupCode(r.Group); code != 0 {
			resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = code
			return resp
		}
	case *kmsg.HeartbeatRequest:
		if code := s.groupCode(r.Group); code != 0 {
			resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = code
			return resp
		}
	case *kmsg.LeaveGroupRequest:
		if code := s.groupCode(r.Group); code != 0 {
			resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = code
			return resp
		}
	case *kmsg.DescribeGroupsRequest:
		return s.describeGroups(ctx, r)
	case *kmsg.DeleteGroupsRequest:
		return s.deleteGroups(ctx, r)
	}
	return nil
}

// ownedGroups returns, for each of groups, the code a request for it gets from this gateway
// (0 when it coordinates the group), and the groups it coordinates, in order.
func (s *Server) ownedGroups(groups []string) (codes []int16, owned []string) {
	codes = make([]int16, len(groups))
	for i, g := range groups {
		if codes[i] = s.groupCode(g); codes[i] == 0 {
			owned = append(owned, g)
		}
	}
	return codes, owned
}

// describeGroups answers DescribeGroups in a cluster: the coordinator describes the groups
// this gateway owns; the others get NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS).
func (s *Server) describeGroups(ctx context.Context, r *kmsg.DescribeGroupsRequest) kmsg.Response {
	codes, owned := s.ownedGroups(r.Groups)
	if len(owned) == len(r.Groups) {
		return nil
	}
	sub := *r
	sub.Groups = owned
	described := s.groups.DescribeGroups(ctx, &sub)
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.ThrottleMillis = described.ThrottleMillis
	next := 0
	for i, g := range r.Groups {
		if codes[i] == 0 && next < len(described.Groups) {
			resp.Groups = append(resp.Groups, described.Groups[next])
			next++
			continue
		}
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, codes[i]
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// deleteGroups answers DeleteGroups in a cluster, as describeGroups does DescribeGroups.
func (s *Server) deleteGroups(ctx context.Context, r *kmsg.DeleteGroupsRequest) kmsg.Response {
	codes, owned := s.ownedGroups(r.Groups)
	if len(owned) == len(r.Groups) {
		return nil
	}
	sub := *r
	sub.Groups = owned
	deleted := s.groups.DeleteGroups(ctx, &sub)
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.ThrottleMillis = deleted.ThrottleMillis
	byGroup := make(map[string]kmsg.DeleteGroupsResponseGroup, len(deleted.Groups))
	for _, rg := range deleted.Groups {
		byGroup[rg.Group] = rg
	}
	for i, g := range r.Groups {
		if rg, ok := byGroup[g]; ok && codes[i] == 0 {
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, codes[i]
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// validator is the GroupValidator of the offset APIs: the group coordinator, behind a check
// that this gateway coordinates the group when it is a cluster member.
func (s *Server) validator() protocol.GroupValidator {
	if s.node == nil {
		return s.groups
	}
	return protocol.GroupValidatorFunc(func(ctx context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
		if code := s.groupCode(req.Group); code != 0 {
			return protocol.GroupResult{}, kerr.ErrorForCode(code)
		}
		return s.groups.ValidateGroup(ctx, req)
	})
}

// ClusterChanged tells the gateway that its cluster node gained or lost a shard (give it to
// ownership.Options.OnChange): for a gained shard the group coordinator loads the groups the
// store keeps state of (their generations go on), and for a lost one it forgets the shard's
// groups, as a Kafka broker loads and unloads the groups of an offsets partition whose
// leadership it gains or loses.
func (s *Server) ClusterChanged(ch ownership.Change) {
	if s.node == nil {
		return
	}
	if !ch.Gained {
		s.groups.Resign(func(group string) bool { return s.node.ShardOf(group) == ch.Shard })
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, clusterLoadTimeout)
	defer cancel()
	if err := s.groups.Load(ctx); err != nil {
		s.log.Warn("loading the groups of a shard this gateway took", "shard", ch.Shard, "err", err)
	}
}

// clusterLoadTimeout bounds the group coordinator's load of a shard it took.
const clusterLoadTimeout = 30 * time.Second

// ClusterNode is the ownership node of a gateway that is a cluster member, nil otherwise.
func (s *Server) ClusterNode() *ownership.Node { return s.node }
