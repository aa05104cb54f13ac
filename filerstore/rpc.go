package filerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// mutate applies every mutation (each a create or a delete), in no particular order. On a
// filer with ObjectTransaction (4.29+) the mutations go in transactions of up to
// txnBatchSize, which the filer applies one after another under the lock of lockKey, the
// group's directory, without the per-request work of CreateEntry. Every write of the store
// to a group takes that lock, so the conditional writes of
// CommitIfAbsent and ExpireOffsets are atomic with respect to Commit and Delete. On an older
// filer one mutation is one unary call, and more go over one StreamMutateEntry stream
// (4.18+) or in bounded parallel unary calls. On error any subset may have been applied.
func (s *Store) mutate(ctx context.Context, lockKey string, muts []*filer_pb.StreamMutateEntryRequest) error {
	if !s.noTxn.Load() {
		txn := make([]*filer_pb.ObjectMutation, len(muts))
		for i, m := range muts {
			txn[i] = objectMutation(m)
		}
		_, err := s.transact(ctx, lockKey, txn)
		if !isUnimplemented(err) {
			return err
		}
		s.noTxn.Store(true)
	}
	if len(muts) > 1 && !s.noStreamMutate.Load() {
		err := s.mutateStream(ctx, muts)
		if !errors.Is(err, errStreamUnimplemented) {
			return err
		}
		s.noStreamMutate.Store(true)
	}
	return forEach(ctx, len(muts), s.par, func(ctx context.Context, i int) error {
		return s.mutateOne(ctx, muts[i])
	})
}

func objectMutation(m *filer_pb.StreamMutateEntryRequest) *filer_pb.ObjectMutation {
	switch r := m.Request.(type) {
	case *filer_pb.StreamMutateEntryRequest_CreateRequest:
		return &filer_pb.ObjectMutation{
			Type:      filer_pb.ObjectMutation_PUT,
			Directory: r.CreateRequest.Directory,
			Entry:     r.CreateRequest.Entry,
		}
	case *filer_pb.StreamMutateEntryRequest_DeleteRequest:
		return &filer_pb.ObjectMutation{
			Type:         filer_pb.ObjectMutation_DELETE,
			Directory:    r.DeleteRequest.Directory,
			Name:         r.DeleteRequest.Name,
			IsDeleteData: r.DeleteRequest.IsDeleteData,
		}
	}
	panic(fmt.Sprintf("filerstore: unexpected mutation %T", m.Request))
}

// transact applies the mutations in order, in ObjectTransaction calls of up to txnBatchSize
// mutations under the lock of lockKey. A mutation whose own condition fails is skipped and
// reported in skipped (by index); any other failure ends the call with an error. It returns
// the filer's Unimplemented error, having applied nothing, when the filer lacks the RPC.
func (s *Store) transact(ctx context.Context, lockKey string, muts []*filer_pb.ObjectMutation) (skipped []int, err error) {
	return s.transactOn(ctx, txnTarget{lockKey: lockKey}, muts)
}

// txnTarget is where transact's calls apply: the lock key and, for a fenced write, the entry
// whose condition the filer checks, under that lock, before each call's mutations.
type txnTarget struct {
	lockKey string
	condKey string                   // "" without a condition
	cond    *filer_pb.WriteCondition // nil without a condition
	fence   int64                    // the fence cond stands for, for the error
}

// transactOn is transact on t. With a condition it makes at least one call, so that the
// condition of an empty batch is checked too, and a call whose condition fails ends with an
// error matching offsetstore.ErrFenced, having applied nothing of its own mutations.
func (s *Store) transactOn(ctx context.Context, t txnTarget, muts []*filer_pb.ObjectMutation) (skipped []int, err error) {
	for start, first := 0, true; (first && t.cond != nil) || start < len(muts); first = false {
		chunk := muts[start:min(start+txnBatchSize, len(muts))]
		// RouteKey sends the transaction to the filer that owns the key on the lock ring, so
		// that with several filers one filer's lock still orders every write to the group.
		resp, err := s.submitTxn(ctx, &filer_pb.ObjectTransactionRequest{
			LockKey: t.lockKey, RouteKey: t.lockKey, ConditionKey: t.condKey, Condition: t.cond, Mutations: chunk,
		})
		if err != nil {
			if isUnimplemented(err) {
				return nil, err
			}
			return nil, fmt.Errorf("ObjectTransaction: %w", err)
		}
		s.hasTxn.Store(true)
		if resp.Error == "" && resp.ErrorCode == filer_pb.FilerError_OK {
			start += len(chunk)
			continue
		}
		if t.cond != nil && resp.ErrorCode == filer_pb.FilerError_PRECONDITION_FAILED && resp.FailedMutation == nil {
			return nil, fmt.Errorf("%w: the fence of the group is not %d", offsetstore.ErrFenced, t.fence)
		}
		failed := -1
		if resp.FailedMutation != nil && int(*resp.FailedMutation) < len(chunk) {
			failed = int(*resp.FailedMutation)
		}
		if failed >= 0 && resp.ErrorCode == filer_pb.FilerError_PRECONDITION_FAILED && chunk[failed].Condition != nil {
			// Everything before the failed mutation was applied; go on after it.
			skipped = append(skipped, start+failed)
			start += failed + 1
			continue
		}
		at := ""
		if failed >= 0 {
			m := chunk[failed]
			name := m.Name
			if m.Entry != nil {
				name = m.Entry.Name
			}
			at = " " + m.Directory + "/" + name
		}
		if sentinel := filer_pb.FilerErrorToSentinel(resp.ErrorCode); sentinel != nil {
			return nil, fmt.Errorf("ObjectTransaction%s: %w (%s)", at, sentinel, resp.Error)
		}
		return nil, fmt.Errorf("ObjectTransaction%s: %s", at, resp.Error)
	}
	return skipped, nil
}

var errStreamUnimplemented = errors.New("filerstore: StreamMutateEntry is not implemented by the filer")

func (s *Store) mutateOne(ctx context.Context, m *filer_pb.StreamMutateEntryRequest) error {
	switch r := m.Request.(type) {
	case *filer_pb.StreamMutateEntryRequest_CreateRequest:
		return filer_pb.CreateEntry(ctx, s.client, r.CreateRequest)
	case *filer_pb.StreamMutateEntryRequest_DeleteRequest:
		resp, err := s.client.DeleteEntry(ctx, r.DeleteRequest)
		if err != nil {
			return fmt.Errorf("DeleteEntry %s/%s: %w", r.DeleteRequest.Directory, r.DeleteRequest.Name, err)
		}
		if resp.Error != "" {
			return fmt.Errorf("DeleteEntry %s/%s: %s", r.DeleteRequest.Directory, r.DeleteRequest.Name, resp.Error)
		}
		return nil
	default:
		return fmt.Errorf("filerstore: unexpected mutation %T", m.Request)
	}
}

// mutateStream sends every mutation over one StreamMutateEntry stream and waits for each
// answer. It returns errStreamUnimplemented, having applied nothing, when the filer does not
// have the RPC.
func (s *Store) mutateStream(ctx context.Context, muts []*filer_pb.StreamMutateEntryRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.client.StreamMutateEntry(ctx)
	if err != nil {
		if isUnimplemented(err) {
			return errStreamUnimplemented
		}
		return fmt.Errorf("StreamMutateEntry: %w", err)
	}
	for i, m := range muts {
		m.RequestId = uint64(i) + 1
	}
	// Send from a second goroutine while this one receives, so that neither side's flow
	// control can stall the other on a large batch.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for _, m := range muts {
			if stream.Send(m) != nil {
				// The stream is broken; Recv reports why.
				return
			}
		}
		stream.CloseSend()
	})
	done := make([]bool, len(muts))
	pending := len(muts)
	var firstErr error
	for pending > 0 {
		resp, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if isUnimplemented(err) && pending == len(muts) {
				return errStreamUnimplemented
			}
			return fmt.Errorf("StreamMutateEntry: %w", err)
		}
		id := resp.RequestId
		if id == 0 || id > uint64(len(muts)) || done[id-1] {
			return fmt.Errorf("StreamMutateEntry: unexpected response id %d", id)
		}
		if !resp.IsLast {
			continue
		}
		done[id-1] = true
		pending--
		if firstErr == nil {
			firstErr = mutateResponseError(muts[id-1], resp)
		}
	}
	return firstErr
}

func mutateResponseError(m *filer_pb.StreamMutateEntryRequest, resp *filer_pb.StreamMutateEntryResponse) error {
	dir, name := mutationPath(m)
	if resp.Error != "" {
		return fmt.Errorf("StreamMutateEntry %s/%s: %s", dir, name, resp.Error)
	}
	if cr := resp.GetCreateResponse(); cr != nil {
		if cr.ErrorCode != filer_pb.FilerError_OK {
			if sentinel := filer_pb.FilerErrorToSentinel(cr.ErrorCode); sentinel != nil {
				return fmt.Errorf("StreamMutateEntry %s/%s: %w", dir, name, sentinel)
			}
			return fmt.Errorf("StreamMutateEntry %s/%s: filer error %v %s", dir, name, cr.ErrorCode, cr.Error)
		}
		if cr.Error != "" {
			return fmt.Errorf("StreamMutateEntry %s/%s: %s", dir, name, cr.Error)
		}
	}
	if dr := resp.GetDeleteResponse(); dr != nil && dr.Error != "" {
		return fmt.Errorf("StreamMutateEntry %s/%s: %s", dir, name, dr.Error)
	}
	return nil
}

func mutationPath(m *filer_pb.StreamMutateEntryRequest) (string, string) {
	switch r := m.Request.(type) {
	case *filer_pb.StreamMutateEntryRequest_CreateRequest:
		return r.CreateRequest.Directory, r.CreateRequest.Entry.GetName()
	case *filer_pb.StreamMutateEntryRequest_DeleteRequest:
		return r.DeleteRequest.Directory, r.DeleteRequest.Name
	}
	return "", ""
}

func createMutation(dir string, e *filer_pb.Entry) *filer_pb.StreamMutateEntryRequest {
	return &filer_pb.StreamMutateEntryRequest{Request: &filer_pb.StreamMutateEntryRequest_CreateRequest{
		CreateRequest: &filer_pb.CreateEntryRequest{Directory: dir, Entry: e},
	}}
}

func deleteMutation(dir, name string) *filer_pb.StreamMutateEntryRequest {
	return &filer_pb.StreamMutateEntryRequest{Request: &filer_pb.StreamMutateEntryRequest_DeleteRequest{
		DeleteRequest: &filer_pb.DeleteEntryRequest{Directory: dir, Name: name, IsDeleteData: true},
	}}
}

// lookupResult is the answer for one path: an entry, a definite absence (nil entry, nil
// error), or an error.
type lookupResult struct {
	entry *filer_pb.Entry
	err   error
}

// lookup looks up every path. A result is absent only on the filer's own not-found.
func (s *Store) lookup(ctx context.Context, reqs []*filer_pb.LookupDirectoryEntryRequest) ([]lookupResult, error) {
	out := make([]lookupResult, len(reqs))
	if len(reqs) > 1 && !s.noBatchLookup.Load() {
		batches := (len(reqs) + lookupBatchSize - 1) / lookupBatchSize
		err := forEach(ctx, batches, s.par, func(ctx context.Context, b int) error {
			lo := b * lookupBatchSize
			hi := min(lo+lookupBatchSize, len(reqs))
			resp, err := s.client.LookupDirectoryEntries(ctx, &filer_pb.LookupDirectoryEntriesRequest{Requests: reqs[lo:hi]})
			if err != nil {
				return err
			}
			if len(resp.Results) != hi-lo {
				return fmt.Errorf("LookupDirectoryEntries: %d results for %d lookups", len(resp.Results), hi-lo)
			}
			for i, r := range resp.Results {
				switch {
				case r.GetError() != "":
					out[lo+i].err = fmt.Errorf("LookupDirectoryEntries %s/%s: %s", reqs[lo+i].Directory, reqs[lo+i].Name, r.Error)
				case r.GetFound() && r.Entry != nil:
					out[lo+i].entry = r.Entry
				case r.GetFound():
					out[lo+i].err = fmt.Errorf("LookupDirectoryEntries %s/%s: found without an entry", reqs[lo+i].Directory, reqs[lo+i].Name)
				}
			}
			return nil
		})
		if err == nil || !isUnimplemented(err) {
			if err != nil {
				return nil, fmt.Errorf("LookupDirectoryEntries: %w", err)
			}
			return out, nil
		}
		s.noBatchLookup.Store(true)
	}
	err := forEach(ctx, len(reqs), s.par, func(ctx context.Context, i int) error {
		resp, err := filer_pb.LookupEntry(ctx, s.client, reqs[i])
		switch {
		case errors.Is(err, filer_pb.ErrNotFound):
		case err != nil:
			return fmt.Errorf("LookupDirectoryEntry %s/%s: %w", reqs[i].Directory, reqs[i].Name, err)
		default:
			out[i].entry = resp.Entry
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lookupOne looks up one entry: (nil, nil) means the filer has no such entry.
func (s *Store) lookupOne(ctx context.Context, dir, name string) (*filer_pb.Entry, error) {
	resp, err := filer_pb.LookupEntry(ctx, s.client, &filer_pb.LookupDirectoryEntryRequest{Directory: dir, Name: name})
	if errors.Is(err, filer_pb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("LookupDirectoryEntry %s/%s: %w", dir, name, err)
	}
	return resp.Entry, nil
}

// list calls fn for every entry of dir, in pages of listPageSize, so that a directory larger
// than the filer's listing limit is read whole. A missing directory lists as empty.
func (s *Store) list(ctx context.Context, dir string, fn func(*filer_pb.Entry) error) error {
	start := ""
	for {
		stream, err := s.client.ListEntries(ctx, &filer_pb.ListEntriesRequest{
			Directory:         dir,
			StartFromFileName: start,
			Limit:             listPageSize,
		})
		if err != nil {
			return fmt.Errorf("ListEntries %s: %w", dir, err)
		}
		n := 0
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("ListEntries %s: %w", dir, err)
			}
			if resp.Entry == nil {
				continue
			}
			n++
			start = resp.Entry.Name
			if err := fn(resp.Entry); err != nil {
				return err
			}
		}
		if n < listPageSize {
			return nil
		}
	}
}
