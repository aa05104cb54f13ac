package protocol_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// stalledStore never answers: each call waits for its context, like a frozen backend that
// honours deadlines.
type stalledStore struct{ offsetstore.Store }

func (stalledStore) Commit(ctx context.Context, _ string, _ map[offsetstore.TopicPartition]offsetstore.Offset) error {
	<-ctx.Done()
	return ctx.Err()
}

func (stalledStore) Fetch(ctx context.Context, _ string, _ []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (stalledStore) FetchAll(ctx context.Context, _ string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (stalledStore) Delete(ctx context.Context, _ string, _ []offsetstore.TopicPartition) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestTimeoutAnswersRetriably shows Options.Timeout bounding each API on a stalled store, each
// answered with its retriable code, never NONE.
func TestTimeoutAnswersRetriably(t *testing.T) {
	h := protocol.New(stalledStore{newStore(t)}, protocol.Options{Timeout: 50 * time.Millisecond})
	ctx := t.Context()
	tests := []struct {
		name string
		req  kmsg.Request
		want int16
		code func(kmsg.Response) int16
	}{
		{"commit", commitReq(9, "g", -1, "", "t", []part{{p: 0, offset: 5, epoch: -1}}), kerr.CoordinatorNotAvailable.Code, func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}},
		{"fetch", fetchReq(7, "g", "t", []int32{0}), kerr.NotCoordinator.Code, func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetFetchResponse).ErrorCode
		}},
		{"fetch all", fetchReq(7, "g"), kerr.NotCoordinator.Code, func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetFetchResponse).ErrorCode
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp, err := h.Handle(ctx, tt.req)
			require.NoError(t, err)
			require.Less(t, time.Since(start), 10*time.Second, "the timeout did not bound the request")
			assert.Equal(t, tt.want, tt.code(resp))
		})
	}
}
