package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestObserveRequest(t *testing.T) {
	storeErr := errors.New("filer down")
	tests := []struct {
		name  string
		ev    protocol.RequestEvent
		check func(t *testing.T, m *Metrics)
	}{
		{
			name: "errors counted per occurrence, by Kafka name",
			ev: protocol.RequestEvent{Key: kmsg.OffsetCommit.Int16(), Version: 9, Duration: time.Millisecond,
				Errors: []protocol.ErrorCount{{Code: 3, Count: 2}, {Code: 25, Count: 1}}},
			check: func(t *testing.T, m *Metrics) {
				require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("OffsetCommit", "9")))
				require.Equal(t, 2.0, testutil.ToFloat64(m.errors.WithLabelValues("OffsetCommit", "9", "UNKNOWN_TOPIC_OR_PARTITION")))
				require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues("OffsetCommit", "9", "UNKNOWN_MEMBER_ID")))
				require.Equal(t, 1, testutil.CollectAndCount(m.duration))
				require.Equal(t, 0, testutil.CollectAndCount(m.storeErrors))
			},
		},
		{
			name: "an error code kerr does not know is labelled by number",
			ev:   protocol.RequestEvent{Key: kmsg.OffsetFetch.Int16(), Version: 8, Errors: []protocol.ErrorCount{{Code: 31000, Count: 1}}},
			check: func(t *testing.T, m *Metrics) {
				require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues("OffsetFetch", "8", "31000")))
			},
		},
		{
			name: "store failure",
			ev:   protocol.RequestEvent{Key: kmsg.OffsetFetch.Int16(), Version: 8, StoreErr: storeErr, Errors: []protocol.ErrorCount{{Code: 16, Count: 1}}},
			check: func(t *testing.T, m *Metrics) {
				require.Equal(t, 1.0, testutil.ToFloat64(m.storeErrors.WithLabelValues("OffsetFetch")))
				require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues("OffsetFetch", "8", "NOT_COORDINATOR")))
			},
		},
		{
			name: "unsupported request: rejected, no api series",
			ev:   protocol.RequestEvent{Key: kmsg.Produce.Int16(), Version: 9, Err: fmt.Errorf("x: %w", protocol.ErrUnsupported)},
			check: func(t *testing.T, m *Metrics) {
				require.Equal(t, 1.0, testutil.ToFloat64(m.rejected.WithLabelValues("unsupported")))
				require.Equal(t, 0, testutil.CollectAndCount(m.requests))
			},
		},
		{
			name: "malformed request with a wild key and version: rejected, no api series",
			ev:   protocol.RequestEvent{Key: -7, Version: 31000, Err: protocol.ErrMalformed},
			check: func(t *testing.T, m *Metrics) {
				require.Equal(t, 1.0, testutil.ToFloat64(m.rejected.WithLabelValues("malformed")))
				require.Equal(t, 0, testutil.CollectAndCount(m.requests))
				require.Equal(t, 0, testutil.CollectAndCount(m.duration))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.ObserveRequest(context.Background(), tt.ev)
			tt.check(t, m)
		})
	}
}

func TestConnectionsAndExpiry(t *testing.T) {
	m := New()
	m.ConnectionsChanged(1)
	m.ConnectionsChanged(1)
	m.ConnectionsChanged(-1)
	m.OffsetsExpired("g", 3)
	m.OffsetsExpired("h", 2)
	require.Equal(t, 1.0, testutil.ToFloat64(m.conns))
	require.Equal(t, 5.0, testutil.ToFloat64(m.expired))
}

// BenchmarkObserveRequest is the cost Metrics adds to each request.
func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	ctx := context.Background()
	ok := protocol.RequestEvent{Key: kmsg.OffsetCommit.Int16(), Version: 9, Duration: 50 * time.Microsecond}
	withErr := protocol.RequestEvent{Key: kmsg.OffsetCommit.Int16(), Version: 9, Duration: 50 * time.Microsecond, Errors: []protocol.ErrorCount{{Code: 3, Count: 2}}}
	b.Run("ok", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ObserveRequest(ctx, ok)
		}
	})
	b.Run("with-error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ObserveRequest(ctx, withErr)
		}
	})
}
