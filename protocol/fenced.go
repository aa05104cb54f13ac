package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeFenced makes the store write of a commit of either kind (key) that the GroupValidator
// accepted (res, for greq) under the acceptance's fence, as guarded documents, and returns
// the code every written partition gets: 0 when the write succeeded, a refusal's code when the
// group changed under the write, a store failure's retriable code otherwise. write makes the
// write, conditioned on fence when fenced.
func (h *Handler) writeFenced(ctx context.Context, c *call, key kmsg.Key, greq GroupRequest, res GroupResult,
	write func(ctx context.Context, fenced bool, fence int64) error) int16 {
	code, err := h.guarded(res, fencedWrite{
		write: func(fenced bool, fence int64) error { return write(ctx, fenced, fence) },
		again: func() (GroupResult, int16) { return h.groupCode(ctx, c, key, greq) },
	})
	if err != nil {
		return h.storeErrorCode(ctx, c, key, greq.Group, err)
	}
	return code
}
