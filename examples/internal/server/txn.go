package server

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/txncoord"
)

// This file is the gateway's transaction coordinator for offsets-only transactions
// (exactly-once consumers that commit their offsets with TxnOffsetCommit): a
// txncoord.Coordinator that validates the producer of each TxnOffsetCommit for the protocol
// Handler, and completes a transaction's pending offsets through the Handler when it ends.
// It is on when the store keeps pending offsets (offsetstore.PendingCommitter).

// startTransactions makes the transaction coordinator, which the protocol Handler (not yet
// made) completes transactions through, and rebuilds the transactions whose pending offsets
// the store kept across a restart. It returns nil when the store keeps no pending offsets.
func (s *Server) startTransactions(opts Options, topics protocol.TopicChecker) (*txncoord.Coordinator, error) {
	pc, ok := opts.Store.(offsetstore.PendingCommitter)
	if !ok {
		s.log.Info("transactions are off: the store keeps no pending offsets")
		return nil, nil
	}
	topts := opts.Transactions
	topts.Completer = txncoord.CompleterFunc(func(ctx context.Context, pid int64, groups []string, commit bool) error {
		return s.offsets.CompleteTransaction(ctx, pid, groups, commit)
	})
	topts.Topics = topics
	if topts.Now == nil {
		topts.Now = opts.Now
	}
	if topts.Logger == nil {
		topts.Logger = s.log.With("component", "transactions")
	}
	coord, err := txncoord.New(topts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	pending, err := pc.ListPending(context.Background())
	if err != nil {
		_ = coord.Close()
		return nil, fmt.Errorf("server: listing pending transactional offsets: %w", err)
	}
	coord.Recover(pending)
	return coord, nil
}

// handleTxn answers the transaction coordinator's APIs; ok is false for any other request.
func (s *Server) handleTxn(ctx context.Context, req kmsg.Request) (resp kmsg.Response, ok bool) {
	if s.txns == nil {
		return nil, false
	}
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return s.txns.InitProducerID(ctx, r), true
	case *kmsg.AddOffsetsToTxnRequest:
		return s.txns.AddOffsetsToTxn(ctx, r), true
	case *kmsg.AddPartitionsToTxnRequest:
		return s.txns.AddPartitionsToTxn(ctx, r), true
	case *kmsg.EndTxnRequest:
		return s.txns.EndTxn(ctx, r), true
	}
	return nil, false
}

// txnVersions is what the transaction coordinator serves, for ApiVersions.
func (s *Server) txnVersions() []kmsg.ApiVersionsResponseApiKey {
	if s.txns == nil {
		return nil
	}
	return txncoord.APIVersions()
}

// AbortExpiredTransactions aborts now every transaction past its transaction.timeout.ms, as
// the coordinator does every Options.Transactions.CheckInterval, and returns how many it
// aborted; 0 when transactions are off.
func (s *Server) AbortExpiredTransactions(ctx context.Context) int {
	if s.txns == nil {
		return 0
	}
	return s.txns.AbortExpired(ctx)
}
