package protocol

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Observer is told about every request a Handler answers, for metrics and tracing: requests by
// API key, version and error code, latency, and store failures. Set it in Options.Observer;
// without one a Handler does no observation work at all.
//
// Every entry point (OffsetCommit, OffsetFetch, OffsetDelete, Handle, Request and HandleBody)
// calls ObserveRequest exactly once per request, after the response is complete and before the
// entry point returns, from the goroutine that called the Handler; an entry point that calls
// another (HandleBody decoding and then handling, Handle dispatching) still reports once.
// ObserveRequest must be safe for concurrent use and fast: it runs on the request's path.
//
// The slices in ev (ev.Errors) are valid only during the call: the Handler reuses them once
// ObserveRequest returns, so an Observer that keeps them must copy them.
type Observer interface {
	ObserveRequest(ctx context.Context, ev RequestEvent)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(ctx context.Context, ev RequestEvent)

// ObserveRequest calls f(ctx, ev).
func (f ObserverFunc) ObserveRequest(ctx context.Context, ev RequestEvent) { f(ctx, ev) }

// RequestEvent describes one request a Handler answered (or could not answer).
type RequestEvent struct {
	// Key is the request's API key (8 OffsetCommit, 9 OffsetFetch, 47 OffsetDelete, or any key
	// given to Handle or HandleBody); -1 for a nil request given to Handle.
	Key int16
	// Version is the request's version; -1 for a nil request.
	Version int16
	// Duration is the time from the entry point's start to the response being complete: for
	// HandleBody it includes decoding the request and encoding the response.
	Duration time.Duration
	// Errors counts every non-zero Kafka error code in the response, in ascending order of
	// code: how many places carried it (a per-partition code counts once per partition, a
	// per-group code once per group, a top-level code once). Empty when every code is NONE or
	// when there is no response. Valid only during ObserveRequest.
	Errors []ErrorCount
	// StoreErr is the first error the Store returned while answering the request, nil if
	// none. Its mapped retriable code is also counted in Errors.
	StoreErr error
	// Err is the Go error the entry point returned: errors.Is(Err, ErrUnsupported) or
	// errors.Is(Err, ErrMalformed), and then there is no response. nil otherwise.
	Err error
}

// ErrorCount is one Kafka error code and how many places in a response carried it.
type ErrorCount struct {
	Code  int16 // a Kafka error code, never 0
	Count int   // at least 1
}

// call is the state of one request being answered: what the Observer is told besides the
// response. A nil *call records nothing.
type call struct {
	storeErr error
}

// storeFailed records the first store failure of the request.
func (c *call) storeFailed(err error) {
	if c != nil && c.storeErr == nil {
		c.storeErr = err
	}
}

// observe reports one request to the Observer, which must be set. resp may be nil or a typed
// nil pointer when err is set.
func (h *Handler) observe(ctx context.Context, key, version int16, start time.Time, resp kmsg.Response, c *call, err error) {
	ev := RequestEvent{Key: key, Version: version, Duration: time.Since(start), Err: err}
	if c != nil {
		ev.StoreErr = c.storeErr
	}
	cp := h.mem.counts.Get()
	ec := CountErrors((*cp)[:0], resp)
	if len(ec) > 0 {
		ev.Errors = ec
	}
	h.obs.ObserveRequest(ctx, ev)
	if cap(ec) <= maxPooledCounts {
		clear(ec)
		*cp = ec[:0]
		h.mem.counts.Put(cp)
	}
}

// errorCounter accumulates ErrorCounts. Responses carry few distinct codes, so a linear scan
// beats a map.
type errorCounter []ErrorCount

func (ec *errorCounter) add(code int16) {
	if code == 0 {
		return
	}
	s := *ec
	for i := range s {
		if s[i].Code == code {
			s[i].Count++
			return
		}
	}
	*ec = append(s, ErrorCount{Code: code, Count: 1})
}
