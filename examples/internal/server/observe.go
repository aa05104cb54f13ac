package server

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Observer is told about the gateway's activity, for metrics (see examples/internal/metrics).
// Its methods must be safe for concurrent use and fast: ObserveRequest runs on every
// request's path.
type Observer interface {
	// ObserveRequest is told about every request, once: the offset APIs through
	// protocol.Options.Observer, every other API by the Server in the same shape. A request
	// that closes its connection (an API key or version the gateway does not serve, bytes
	// that do not decode, a frame size out of range) is reported with Err matching
	// protocol.ErrUnsupported or protocol.ErrMalformed; its Key and Version then come from
	// the wire unchecked (-1 when there was no header), so do not use them as metric labels.
	protocol.Observer
	// ConnectionsChanged is told +1 when a connection opens and -1 when it closes.
	ConnectionsChanged(delta int)
	// OffsetsExpired is told, after each group's offsets expire, how many the retention
	// sweeper removed.
	OffsetsExpired(group string, n int)
}

// observe reports a request the Server answered itself (not an offset API).
func (s *Server) observe(ctx context.Context, key, version int16, start time.Time, resp kmsg.Response) {
	if s.obs == nil {
		return
	}
	var ec []protocol.ErrorCount
	add := func(code int16) {
		if code == 0 {
			return
		}
		for i := range ec {
			if ec[i].Code == code {
				ec[i].Count++
				return
			}
		}
		ec = append(ec, protocol.ErrorCount{Code: code, Count: 1})
	}
	switch r := resp.(type) {
	case *kmsg.ApiVersionsResponse:
		add(r.ErrorCode)
	case *kmsg.MetadataResponse:
		for i := range r.Topics {
			add(r.Topics[i].ErrorCode)
			for j := range r.Topics[i].Partitions {
				add(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.FindCoordinatorResponse:
		add(r.ErrorCode)
		for i := range r.Coordinators {
			add(r.Coordinators[i].ErrorCode)
		}
	case *kmsg.ListOffsetsResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				add(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.JoinGroupResponse:
		add(r.ErrorCode)
	case *kmsg.SyncGroupResponse:
		add(r.ErrorCode)
	case *kmsg.HeartbeatResponse:
		add(r.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		add(r.ErrorCode)
		for i := range r.Members {
			add(r.Members[i].ErrorCode)
		}
	case *kmsg.DescribeGroupsResponse:
		for i := range r.Groups {
			add(r.Groups[i].ErrorCode)
		}
	case *kmsg.ListGroupsResponse:
		add(r.ErrorCode)
	case *kmsg.DeleteGroupsResponse:
		for i := range r.Groups {
			add(r.Groups[i].ErrorCode)
		}
	}
	slices.SortFunc(ec, func(a, b protocol.ErrorCount) int { return cmp.Compare(a.Code, b.Code) })
	s.obs.ObserveRequest(ctx, protocol.RequestEvent{Key: key, Version: version, Duration: time.Since(start), Errors: ec})
}

// observeRejected reports a request that closes its connection; err wraps
// protocol.ErrUnsupported or protocol.ErrMalformed.
func (s *Server) observeRejected(ctx context.Context, key, version int16, err error) {
	if s.obs != nil {
		s.obs.ObserveRequest(ctx, protocol.RequestEvent{Key: key, Version: version, Err: err})
	}
}
