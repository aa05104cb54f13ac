package server

import "context"

// budgetUnit is the granularity of the request-bytes budget: frames up to this size are read
// without touching it, so small requests (nearly all of them) pay nothing.
const budgetUnit = 64 << 10

// byteBudget bounds the bytes of large request frames being read or handled at once across
// every connection, like Kafka's queued.max.request.bytes: a connection whose frame does not
// fit waits (its peer sees back-pressure) until others finish. It counts in units of
// budgetUnit, each a token in a buffered channel, so a wait can be cancelled.
type byteBudget struct {
	gate   chan struct{} // held while one connection collects tokens, so two never deadlock half-way
	tokens chan struct{} // a send takes a unit, a receive gives it back
}

func newByteBudget(bytes int64) *byteBudget {
	units := max(int(bytes/budgetUnit), 1)
	return &byteBudget{gate: make(chan struct{}, 1), tokens: make(chan struct{}, units)}
}

// acquire takes the units a frame of n bytes needs (at most the whole budget, so a frame
// larger than the budget still runs, alone) and returns how many it took, for release.
func (b *byteBudget) acquire(ctx context.Context, n int) (int, error) {
	if b == nil || n <= budgetUnit {
		return 0, nil
	}
	k := min((n+budgetUnit-1)/budgetUnit, cap(b.tokens))
	select {
	case b.gate <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-b.gate }()
	for i := 0; i < k; i++ {
		select {
		case b.tokens <- struct{}{}:
		case <-ctx.Done():
			b.release(i)
			return 0, ctx.Err()
		}
	}
	return k, nil
}

// release gives back k units.
func (b *byteBudget) release(k int) {
	for ; k > 0; k-- {
		<-b.tokens
	}
}
