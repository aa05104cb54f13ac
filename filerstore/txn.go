package filerstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

const (
	// maxBatchTxns and maxBatchMutations bound one ObjectTransactionBatch, well inside the
	// filer's message size limit.
	maxBatchTxns      = 256
	maxBatchMutations = 4096
)

// txnCall is one transaction waiting for a round trip.
type txnCall struct {
	ctx  context.Context
	req  *filer_pb.ObjectTransactionRequest
	resp *filer_pb.ObjectTransactionResponse
	err  error
	done chan struct{} // closed once resp or err is set
}

// txnQueue coalesces transactions (group commit): while Options.TxnRoundTrips round trips to
// the filer are in flight, transactions that arrive queue up, and go together in the next
// round trip, one ObjectTransactionBatch, as soon as one returns. A transaction that finds a
// round trip free goes at once, alone, as one ObjectTransaction: there is no linger, so a
// lone commit costs what it did without batching.
type txnQueue struct {
	mu      sync.Mutex
	busy    int  // round trips in flight, alone or batched: at most Store.txnTrips
	closed  bool // the store is closed: no new drainer
	queue   []*txnCall
	drainer sync.WaitGroup // the goroutine sending queued batches, if any
}

// submitTxn applies one transaction and returns the filer's answer to it: every transaction
// of the store goes through here. Transactions of different callers that arrive while a
// round trip is in flight share the next one; each caller gets its own transaction's
// response, so a failed batch fails only the transactions it carried, and a caller is
// answered only once its own transaction was applied (or failed). Without
// Options.TxnRoundTrips, or on a filer without ObjectTransactionBatch, every transaction is
// its own ObjectTransaction, concurrently.
func (s *Store) submitTxn(ctx context.Context, req *filer_pb.ObjectTransactionRequest) (*filer_pb.ObjectTransactionResponse, error) {
	if s.txnTrips == 0 || s.noTxnBatch.Load() {
		return s.client.ObjectTransaction(ctx, req)
	}
	q := &s.txns
	q.mu.Lock()
	if q.busy < s.txnTrips {
		q.busy++
		q.mu.Unlock()
		resp, err := s.client.ObjectTransaction(ctx, req)
		s.txnDone()
		return resp, err
	}
	c := &txnCall{ctx: ctx, req: req, done: make(chan struct{})}
	q.queue = append(q.queue, c)
	q.mu.Unlock()
	select {
	case <-c.done:
		return c.resp, c.err
	case <-ctx.Done():
		q.mu.Lock()
		for i, o := range q.queue {
			if o == c { // not sent: it never reaches the filer
				q.queue = append(q.queue[:i], q.queue[i+1:]...)
				break
			}
		}
		q.mu.Unlock()
		// Sent or not, the caller is answered now; a sent transaction may still be applied,
		// as for any call that fails on its context.
		return nil, ctx.Err()
	}
}

// txnDone ends a round trip: the transactions queued meanwhile go next, from a goroutine
// that sends batches until the queue is empty (Close waits for it).
func (s *Store) txnDone() {
	q := &s.txns
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.busy--
		return
	}
	if q.closed {
		for _, c := range q.queue {
			c.err = fmt.Errorf("ObjectTransaction: %w", offsetstore.ErrClosed)
			close(c.done)
		}
		q.queue = nil
		q.busy--
		return
	}
	q.drainer.Add(1)
	go func() {
		defer q.drainer.Done()
		for {
			q.mu.Lock()
			if len(q.queue) == 0 {
				q.busy--
				q.mu.Unlock()
				return
			}
			n, muts := 0, 0
			for n < len(q.queue) && n < maxBatchTxns && (n == 0 || muts+len(q.queue[n].req.Mutations) <= maxBatchMutations) {
				muts += len(q.queue[n].req.Mutations)
				n++
			}
			calls := q.queue[:n:n]
			q.queue = append([]*txnCall(nil), q.queue[n:]...)
			q.mu.Unlock()
			s.sendBatch(calls)
		}
	}()
}

// sendBatch sends calls in one round trip and answers each.
func (s *Store) sendBatch(calls []*txnCall) {
	ctx, cancel := batchContext(s.closeCtx, calls)
	defer cancel()
	answer := func(c *txnCall, resp *filer_pb.ObjectTransactionResponse, err error) {
		c.resp, c.err = resp, err
		close(c.done)
	}
	if len(calls) == 1 {
		resp, err := s.client.ObjectTransaction(ctx, calls[0].req)
		answer(calls[0], resp, err)
		return
	}
	req := &filer_pb.ObjectTransactionBatchRequest{Transactions: make([]*filer_pb.ObjectTransactionRequest, len(calls))}
	for i, c := range calls {
		req.Transactions[i] = c.req
	}
	resp, err := s.client.ObjectTransactionBatch(ctx, req)
	if isUnimplemented(err) {
		// An older filer: from now on every transaction goes alone; these go in parallel.
		s.noTxnBatch.Store(true)
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Go(func() {
				resp, err := s.client.ObjectTransaction(ctx, c.req)
				answer(c, resp, err)
			})
		}
		wg.Wait()
		return
	}
	if err == nil && len(resp.Responses) != len(calls) {
		err = fmt.Errorf("ObjectTransactionBatch: %d responses for %d transactions", len(resp.Responses), len(calls))
	}
	for i, c := range calls {
		if err != nil {
			answer(c, nil, fmt.Errorf("ObjectTransactionBatch: %w", err))
			continue
		}
		r := resp.Responses[i]
		if r == nil {
			r = &filer_pb.ObjectTransactionResponse{Error: "no response to the transaction"}
		}
		answer(c, r, nil)
	}
}

// closeTxns waits for the batches in flight, which the store's closed context ends, and
// makes later queued transactions fail.
func (s *Store) closeTxns() {
	q := &s.txns
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.drainer.Wait()
}

// batchContext is the context of one batch: cancelled by the store's Close, or once every
// caller in the batch has given up, and with the latest of their deadlines if they all have
// one.
func batchContext(parent context.Context, calls []*txnCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithCancel(parent)
	if !latest.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, latest)
		prev := cancel
		cancel = func() { cancelDeadline(); prev() }
	}
	var (
		mu   sync.Mutex
		left = len(calls)
	)
	stops := make([]func() bool, len(calls))
	for i, c := range calls {
		stops[i] = context.AfterFunc(c.ctx, func() {
			mu.Lock()
			left--
			all := left == 0
			mu.Unlock()
			if all {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
