package protocol

import (
	"errors"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// maxFenceRounds bounds how often one request is asked about again after the store refused
// its write because the group's fence moved (GroupResult.Fenced): each round means the group
// changed while the write travelled, so a few rounds only happen under a storm of changes.
const maxFenceRounds = 4

// fencedWrite is the store write of an accepted request: write stores under the fence it is
// given (fenced false: unconditionally), and again asks the GroupValidator a new round.
type fencedWrite struct {
	write func(fenced bool, fence int64) error
	again func() (GroupResult, int16)
}

// guarded runs w under res's fence and reports the write's outcome to res.Done. When the store
// refuses the write because the fence moved, the request is asked about again, as if it had
// arrived after the change: a refusal's code comes back as code (err nil), and a new
// acceptance is written under its own fence. After maxFenceRounds refusals by the store it
// returns the store's ErrFenced, which callers map like any store failure.
func (h *Handler) guarded(res GroupResult, w fencedWrite) (code int16, err error) {
	for round := 1; ; round++ {
		fenced := res.Fenced && h.fencer != nil
		err = w.write(fenced, res.Fence)
		if res.Done != nil {
			res.Done(err)
		}
		if !fenced || !errors.Is(err, offsetstore.ErrFenced) || round == maxFenceRounds {
			return 0, err
		}
		res, code = w.again()
		if code != 0 {
			return code, nil
		}
	}
}

// release reports to res.Done, when there is one, that the acceptance res wrote nothing.
func release(res GroupResult) {
	if res.Done != nil {
		res.Done(nil)
	}
}
