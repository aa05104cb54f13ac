package protocol_test

import (
	"context"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/offsetkit/offsetkit/protocol"
)

// testGroup is a group as a gateway's coordinator would know it.
type testGroup struct {
	state        string // Empty, Stable, PreparingRebalance, CompletingRebalance, Dead
	protocolType string // "consumer" for consumer groups, anything else otherwise
	generation   int32
	members      map[string]*string // member id -> static instance id
	subscribed   []string
	kip848       bool             // a KIP-848 consumer group (member epochs)
	epochs       map[string]int32 // KIP-848 member epochs
}

// testCoordinator is a minimal group coordinator implementing Kafka's validation rules
// (ClassicGroup.validateOffsetCommit, ConsumerGroup.validateOffsetCommit and
// validateOffsetFetch, and the group part of OffsetDelete) over groups set up by a test. It
// shows how a gateway plugs its coordinator into protocol.Options.Groups.
type testCoordinator struct {
	mu     sync.Mutex
	groups map[string]*testGroup
	calls  int
}

func (c *testCoordinator) ValidateGroup(_ context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	g := c.groups[req.Group]
	if g == nil || (g.state == "Empty" && len(g.members) == 0 && !g.kip848) {
		return protocol.GroupResult{}, protocol.ErrNoActiveGroup
	}
	switch req.Op {
	case protocol.OpOffsetCommit:
		return protocol.GroupResult{}, c.validateCommit(g, req)
	case protocol.OpOffsetFetch:
		if !g.kip848 || req.Version < 9 || (req.MemberID == nil && req.Generation < 0) {
			return protocol.GroupResult{}, nil
		}
		epoch, ok := g.epochs[deref(req.MemberID)]
		if !ok {
			return protocol.GroupResult{}, kerr.UnknownMemberID
		}
		if epoch != req.Generation {
			return protocol.GroupResult{}, kerr.StaleMemberEpoch
		}
		return protocol.GroupResult{}, nil
	case protocol.OpOffsetDelete:
		switch {
		case g.state == "Dead":
			return protocol.GroupResult{}, kerr.GroupIDNotFound
		case g.state != "Empty" && g.protocolType != "consumer":
			return protocol.GroupResult{}, kerr.NonEmptyGroup
		}
		var res protocol.GroupResult
		for _, t := range req.Topics {
			if slices.Contains(g.subscribed, t) {
				res.Subscribed = append(res.Subscribed, t)
			}
		}
		return res, nil
	}
	return protocol.GroupResult{}, nil
}

// validateCommit is ClassicGroup.validateOffsetCommit.
func (c *testCoordinator) validateCommit(g *testGroup, req protocol.GroupRequest) error {
	member := deref(req.MemberID)
	switch {
	case g.state == "Dead":
		return kerr.CoordinatorNotAvailable
	case req.Generation < 0 && g.state == "Empty":
		return nil
	case req.Generation >= 0 || member != "" || req.InstanceID != nil:
		if req.InstanceID != nil {
			owner := ""
			for id, inst := range g.members {
				if inst != nil && *inst == *req.InstanceID {
					owner = id
				}
			}
			if owner == "" {
				return kerr.UnknownMemberID
			}
			if owner != member {
				return kerr.FencedInstanceID
			}
		}
		if _, ok := g.members[member]; !ok {
			return kerr.UnknownMemberID
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
	default:
		return kerr.UnknownMemberID
	}
	if g.state == "CompletingRebalance" {
		return kerr.RebalanceInProgress
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
