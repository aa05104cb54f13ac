package server

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recorder is an Observer that keeps every request event (with its Errors copied).
type recorder struct {
	mu     sync.Mutex
	events []protocol.RequestEvent
	conns  int
}

func (r *recorder) ObserveRequest(_ context.Context, ev protocol.RequestEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.Errors = slices.Clone(ev.Errors)
	r.events = append(r.events, ev)
}

func (r *recorder) ConnectionsChanged(d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns += d
}

func (*recorder) OffsetsExpired(string, int) {}

// take returns and forgets the events recorded so far.
func (r *recorder) take() []protocol.RequestEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

func frameOf(req kmsg.Request, version int16) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'c')
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// TestObserverEvents: the gateway reports each request it answers itself, with its error
// codes counted per occurrence, the offset APIs once (through protocol's Observer), and
// refused frames as rejected.
func TestObserverEvents(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	obs := &recorder{}
	s, err := New(Options{Store: store, Topics: []Topic{{Name: "t1", Partitions: 3}}, Observer: obs})
	require.NoError(t, err)
	defer s.Close()
	c := &conn{host: "127.0.0.1", self: brokerOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092})}

	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("a")}, {Topic: kmsg.StringPtr("t1")}, {Topic: kmsg.StringPtr("b")}}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t1", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0}, {Partition: 9}}}}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "g", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t1", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 5}, {Partition: 7, Offset: 5}}}}
	truncated := frameOf(md, 12)
	truncated = truncated[:len(truncated)-4]

	tests := []struct {
		name    string
		frame   []byte
		want    protocol.RequestEvent
		refused error
	}{
		{
			name:  "ApiVersions at a version not served: answered at v0",
			frame: frameOf(kmsg.NewPtrApiVersionsRequest(), 99),
			want:  protocol.RequestEvent{Key: int16(kmsg.ApiVersions), Version: 0, Errors: []protocol.ErrorCount{{Code: kerr.UnsupportedVersion.Code, Count: 1}}},
		},
		{
			name:  "Metadata: one count per unknown topic",
			frame: frameOf(md, 12),
			want:  protocol.RequestEvent{Key: kmsg.Metadata.Int16(), Version: 12, Errors: []protocol.ErrorCount{{Code: kerr.UnknownTopicOrPartition.Code, Count: 2}}},
		},
		{
			name:  "ListOffsets: per partition",
			frame: frameOf(lo, 11),
			want:  protocol.RequestEvent{Key: kmsg.ListOffsets.Int16(), Version: 11, Errors: []protocol.ErrorCount{{Code: kerr.UnknownTopicOrPartition.Code, Count: 1}}},
		},
		{
			name:  "OffsetCommit: reported once, by protocol's Observer",
			frame: frameOf(commit, 9),
			want:  protocol.RequestEvent{Key: kmsg.OffsetCommit.Int16(), Version: 9, Errors: []protocol.ErrorCount{{Code: kerr.UnknownTopicOrPartition.Code, Count: 1}}},
		},
		{
			name:    "unsupported key: rejected",
			frame:   frameOf(kmsg.NewPtrProduceRequest(), 9),
			want:    protocol.RequestEvent{Key: kmsg.Produce.Int16(), Version: 9},
			refused: protocol.ErrUnsupported,
		},
		{
			name:    "truncated body: rejected as malformed",
			frame:   truncated,
			want:    protocol.RequestEvent{Key: kmsg.Metadata.Int16(), Version: 12},
			refused: protocol.ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.handleFrame(context.Background(), c, tt.frame, nil)
			evs := obs.take()
			require.Len(t, evs, 1)
			ev := evs[0]
			if tt.refused != nil {
				require.ErrorIs(t, err, tt.refused)
				require.ErrorIs(t, ev.Err, tt.refused)
			} else {
				require.NoError(t, err)
				require.NoError(t, ev.Err)
			}
			require.Equal(t, tt.want.Key, ev.Key)
			require.Equal(t, tt.want.Version, ev.Version)
			require.Equal(t, tt.want.Errors, ev.Errors)
		})
	}
}
