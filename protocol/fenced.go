package protocol

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// maxFenceRounds bounds how often a write refused by a moved fence is validated and tried
// again before the request is answered with a store failure's retriable code.
const maxFenceRounds = 4

// writeFenced makes the store write of a request the GroupValidator accepted (res, for greq):
// conditioned on res.Fence when res.Fenced and the store is an offsetstore.Fencer, else
// unconditionally. When the store refuses it with offsetstore.ErrFenced, the group is
// validated again, as if the request had arrived after the fence moved: a refusal is the
// answer, an acceptance is written under its own fence. Each acceptance's Done is called
// once, with its write's error. It returns the code every written partition gets, 0 when the
// write succeeded.
//
// write makes the write, with fenced telling it to condition it on fence.
func (h *Handler) writeFenced(ctx context.Context, c *call, key kmsg.Key, greq GroupRequest, res GroupResult,
	write func(ctx context.Context, fenced bool, fence int64) error) int16 {
	var err error
	for range maxFenceRounds {
		fenced := res.Fenced && h.fencer != nil
		err = write(ctx, fenced, res.Fence)
		finish(res, err)
		if err == nil {
			return 0
		}
		if !fenced || !errors.Is(err, offsetstore.ErrFenced) {
			return h.storeErrorCode(ctx, c, key, greq.Group, err)
		}
		var code int16
		var noActive bool
		res, code, noActive = h.consult(ctx, greq)
		if code != 0 {
			return code
		}
		if noActive {
			res = GroupResult{} // no coordinator state left: nothing to fence against
		}
	}
	return h.storeErrorCode(ctx, c, key, greq.Group, err)
}

// finish calls res.Done, when set, with the outcome of the write res accepted.
func finish(res GroupResult, err error) {
	if res.Done != nil {
		res.Done(err)
	}
}
