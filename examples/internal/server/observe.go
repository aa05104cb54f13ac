package server

import (
	"context"
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
	ec := protocol.CountErrors(nil, resp)
	s.obs.ObserveRequest(ctx, protocol.RequestEvent{Key: key, Version: version, Duration: time.Since(start), Errors: ec})
}

// observeRejected reports a request that closes its connection; err wraps
// protocol.ErrUnsupported or protocol.ErrMalformed.
func (s *Server) observeRejected(ctx context.Context, key, version int16, err error) {
	if s.obs != nil {
		s.obs.ObserveRequest(ctx, protocol.RequestEvent{Key: key, Version: version, Err: err})
	}
}
