package filerstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// Pending transactional offsets (offsetstore.PendingCommitter) are kept beside Root, where the
// SeaweedFS gateway, which lists Root's directories as groups, never looks:
//
//	{Root}.offsetkit/pending/{group}/{producer id}
//
// one file per group and producer, {group} escaped with EscapeName and the producer id in
// decimal. The file holds the transaction's pending offsets of the group as JSON (pendingFile),
// names and metadata as bytes so that any string survives. Each offset records the version
// (content MD5) of the partition's committed offset file when it was staged: committing the
// transaction stores it only if that file is unchanged since, or holds an offset committed
// earlier than the pending one (a transaction staged before). That is Kafka's rule that the
// later offset record wins, with commit times to the millisecond standing in for log
// positions when two transactions staged the same partition.

var _ offsetstore.PendingCommitter = (*Store)(nil)

// pendingDirName is the subdirectory of the sibling of Root that holds pending offsets.
const pendingDirName = "pending"

// pendingFile is the content of one group's pending offsets of one producer.
type pendingFile struct {
	Type            string          `json:"type"` // "pending"
	Group           []byte          `json:"group"`
	TransactionalID []byte          `json:"transactional_id"`
	ProducerID      int64           `json:"producer_id"`
	ProducerEpoch   int16           `json:"producer_epoch"`
	Offsets         []pendingOffset `json:"offsets"`
}

// pendingOffset is one staged offset.
type pendingOffset struct {
	Topic       []byte `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    []byte `json:"metadata"`
	CommittedAt int64  `json:"committed_at"`
	ExpireAt    int64  `json:"expire_at,omitempty"`
	// Base is the version of the partition's committed offset file at staging, "" for none.
	Base string `json:"base"`
}

func (p pendingOffset) tp() offsetstore.TopicPartition {
	return offsetstore.TopicPartition{Topic: string(p.Topic), Partition: p.Partition}
}

func (p pendingOffset) offset() offsetstore.Offset {
	return offsetstore.Offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: string(p.Metadata),
		CommitTime: fromUnixMilli(p.CommittedAt), ExpireTime: fromUnixMilli(p.ExpireAt)}
}

// version identifies the content of a committed offset file, "" for none.
func version(e *filer_pb.Entry) string {
	if e == nil {
		return ""
	}
	sum := md5.Sum(e.Content)
	return hex.EncodeToString(sum[:])
}

func decodePending(e *filer_pb.Entry) (pendingFile, error) {
	var f pendingFile
	if e.IsDirectory || len(e.Chunks) > 0 {
		return f, fmt.Errorf("%w: pending offsets %s: not an inline file", errCorrupt, e.Name)
	}
	if err := json.Unmarshal(e.Content, &f); err != nil {
		return f, fmt.Errorf("%w: pending offsets %s: %v", errCorrupt, e.Name, err)
	}
	if f.Type != "pending" {
		return f, fmt.Errorf("%w: pending offsets %s: type %q", errCorrupt, e.Name, f.Type)
	}
	return f, nil
}

// pendingRoot is the directory of every group's pending offsets.
func (s *Store) pendingRoot() string { return joinPath(s.root+stateRootSuffix, pendingDirName) }

// pendingDir is the directory of group's pending offsets.
func (s *Store) pendingDir(group string) string { return joinPath(s.pendingRoot(), EscapeName(group)) }

func pidName(pid int64) string { return strconv.FormatInt(pid, 10) }

// StagePending implements offsetstore.PendingCommitter: a lookup of the producer's pending
// file and of the staged partitions' committed offsets, then one write of the merged file.
func (s *Store) StagePending(ctx context.Context, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.writeOffsets(ctx, "StagePending", group, offsets, func(ctx context.Context) error {
		return s.stagePending(ctx, group, txn, offsets, false, 0)
	})
}

// StagePendingFenced implements offsetstore.PendingCommitter: StagePending whose write is one
// ObjectTransaction conditioned on the group's fence (see CommitFenced).
func (s *Store) StagePendingFenced(ctx context.Context, group string, fence int64, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.writeOffsets(ctx, "StagePendingFenced", group, offsets, func(ctx context.Context) error {
		if err := s.fenced(ctx, group); err != nil {
			return err
		}
		return s.stagePending(ctx, group, txn, offsets, true, fence)
	})
}

func (s *Store) stagePending(ctx context.Context, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset, fenced bool, fence int64) error {
	if len(offsets) == 0 {
		if fenced {
			_, err := s.fencedTransact(ctx, group, fence, nil)
			return err
		}
		return nil
	}
	dir, name := s.pendingDir(group), pidName(txn.ProducerID)
	groupDir := s.groupDir(group)
	tps := offsetstore.SortedPartitions(offsets)
	reqs := []*filer_pb.LookupDirectoryEntryRequest{{Directory: dir, Name: name}}
	for _, tp := range tps {
		reqs = append(reqs, &filer_pb.LookupDirectoryEntryRequest{Directory: s.partitionDir(groupDir, tp), Name: offsetFileName})
	}
	results, err := s.lookup(ctx, reqs)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.err != nil {
			return r.err
		}
	}
	f := pendingFile{Type: "pending"}
	if e := results[0].entry; e != nil {
		if f, err = decodePending(e); err != nil {
			return err
		}
	}
	f.Group, f.TransactionalID = []byte(group), []byte(txn.TransactionalID)
	f.ProducerID, f.ProducerEpoch = txn.ProducerID, txn.ProducerEpoch
	staged := make(map[offsetstore.TopicPartition]int, len(f.Offsets))
	for i, p := range f.Offsets {
		staged[p.tp()] = i
	}
	for i, tp := range tps {
		o := offsets[tp]
		p := pendingOffset{Topic: []byte(tp.Topic), Partition: tp.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: []byte(o.Metadata), CommittedAt: unixMilli(o.CommitTime), ExpireAt: unixMilli(o.ExpireTime),
			Base: version(results[i+1].entry)}
		if j, ok := staged[tp]; ok {
			f.Offsets[j] = p
		} else {
			f.Offsets = append(f.Offsets, p)
		}
	}
	content, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	write := createMutation(dir, fileEntry(name, content, now()))
	if fenced {
		_, err := s.fencedTransact(ctx, group, fence, []*filer_pb.ObjectMutation{objectMutation(write)})
		return err
	}
	return s.mutate(ctx, dir, []*filer_pb.StreamMutateEntryRequest{write})
}

// CompletePending implements offsetstore.PendingCommitter: a lookup of the producer's pending
// file; to commit, a lookup of the partitions' committed offsets and one transaction writing
// those the transaction wins, each only if its offset file is still what was read; then the
// file's deletion.
func (s *Store) CompletePending(ctx context.Context, group string, producerID int64, commit bool) error {
	const op = "CompletePending"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	return s.fail(ctx, op, group, s.completePending(opCtx, group, producerID, commit))
}

func (s *Store) completePending(ctx context.Context, group string, producerID int64, commit bool) error {
	dir, name := s.pendingDir(group), pidName(producerID)
	e, err := s.lookupOne(ctx, dir, name)
	if err != nil || e == nil {
		return err
	}
	if commit {
		f, err := decodePending(e)
		if err != nil {
			return err
		}
		if err := s.materialize(ctx, group, f.Offsets); err != nil {
			return err
		}
	}
	err = s.mutate(ctx, dir, []*filer_pb.StreamMutateEntryRequest{deleteMutation(dir, name)})
	if err != nil && errors.Is(err, filer_pb.ErrNotFound) {
		return nil
	}
	return err
}

// materialize commits the pending offsets that win over what is committed now. Each offset
// file is written only if it is still what was read (IF_NOT_EXISTS or IF_ETAG_MATCH, checked
// by the filer under the group's lock): a plain commit that lands between the read and the
// write was made after the transaction staged its offset, so it wins and the transaction's
// offset for that partition is dropped, as Kafka replays a commit after the staging. On a
// filer without ObjectTransaction the writes are unconditional.
func (s *Store) materialize(ctx context.Context, group string, pending []pendingOffset) error {
	if len(pending) == 0 {
		return nil
	}
	groupDir := s.groupDir(group)
	reqs := make([]*filer_pb.LookupDirectoryEntryRequest, len(pending))
	for i, p := range pending {
		reqs[i] = &filer_pb.LookupDirectoryEntryRequest{Directory: s.partitionDir(groupDir, p.tp()), Name: offsetFileName}
	}
	results, err := s.lookup(ctx, reqs)
	if err != nil {
		return err
	}
	win := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(pending))
	read := make(map[string]*filer_pb.WriteCondition, len(pending)) // by partition directory
	for i, p := range pending {
		r := results[i]
		if r.err != nil {
			return r.err
		}
		if r.entry != nil && version(r.entry) != p.Base {
			cur, err := entryOffset(r.entry)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", reqs[i].Directory, reqs[i].Name, err)
			}
			if !cur.CommitTime.Before(fromUnixMilli(p.CommittedAt)) {
				continue // written after the transaction staged it: the later write wins
			}
		}
		win[p.tp()] = p.offset()
		cond := &filer_pb.WriteCondition_Clause{Kind: filer_pb.WriteCondition_IF_NOT_EXISTS}
		if r.entry != nil {
			cond = &filer_pb.WriteCondition_Clause{Kind: filer_pb.WriteCondition_IF_ETAG_MATCH, Etags: []string{entryETag(r.entry)}}
		}
		read[reqs[i].Directory] = &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{cond}}
	}
	if len(win) == 0 {
		return nil
	}
	if s.noTxn.Load() {
		return s.commit(ctx, group, win)
	}
	groupDir, markers, muts, err := s.commitMutations(group, win)
	if err != nil {
		return err
	}
	txn := make([]*filer_pb.ObjectMutation, 0, len(markers)+len(muts))
	for _, m := range markers {
		txn = append(txn, objectMutation(m))
	}
	for _, m := range muts {
		om := objectMutation(m)
		om.Condition = read[om.Directory]
		txn = append(txn, om)
	}
	_, err = s.transact(ctx, groupDir, txn) // a skipped mutation lost to a later commit
	if isUnimplemented(err) {
		s.noTxn.Store(true)
		return s.commit(ctx, group, win)
	}
	return err
}

// PendingPartitions implements offsetstore.PendingCommitter: one listing of the group's
// pending files.
func (s *Store) PendingPartitions(ctx context.Context, group string) ([]offsetstore.TopicPartition, error) {
	const op = "PendingPartitions"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, group, err)
	}
	defer done()
	out := []offsetstore.TopicPartition{}
	seen := map[offsetstore.TopicPartition]bool{}
	err = s.listPending(opCtx, s.pendingDir(group), func(f pendingFile) {
		for _, p := range f.Offsets {
			if tp := p.tp(); !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	})
	if err != nil {
		return nil, s.fail(ctx, op, group, err)
	}
	return out, nil
}

// listPending calls fn for every pending file in dir; a missing dir has none.
func (s *Store) listPending(ctx context.Context, dir string, fn func(pendingFile)) error {
	return s.list(ctx, dir, func(e *filer_pb.Entry) error {
		if e.IsDirectory {
			return nil
		}
		f, err := decodePending(e)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if len(f.Offsets) > 0 {
			fn(f)
		}
		return nil
	})
}

// ListPending implements offsetstore.PendingCommitter: a listing of the groups with pending
// offsets, then one of each.
func (s *Store) ListPending(ctx context.Context) ([]offsetstore.PendingGroup, error) {
	const op = "ListPending"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, "", err)
	}
	defer done()
	var dirs []string
	root := s.pendingRoot()
	err = s.list(opCtx, root, func(e *filer_pb.Entry) error {
		if e.IsDirectory {
			dirs = append(dirs, e.Name)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, op, "", err)
	}
	out := []offsetstore.PendingGroup{}
	for _, d := range dirs {
		err := s.listPending(opCtx, joinPath(root, d), func(f pendingFile) {
			out = append(out, offsetstore.PendingGroup{Group: string(f.Group), Txn: offsetstore.PendingTxn{
				TransactionalID: string(f.TransactionalID), ProducerID: f.ProducerID, ProducerEpoch: f.ProducerEpoch}})
		})
		if err != nil {
			return nil, s.fail(ctx, op, "", err)
		}
	}
	return out, nil
}

// dropPending removes the pending offsets of partitions (every partition when all) from every
// producer's file of group, as Kafka's offset tombstones do: files left empty are deleted.
func (s *Store) dropPending(ctx context.Context, group string, partitions []offsetstore.TopicPartition, all bool) error {
	dir := s.pendingDir(group)
	drop := make(map[offsetstore.TopicPartition]bool, len(partitions))
	for _, tp := range partitions {
		drop[tp] = true
	}
	var muts []*filer_pb.StreamMutateEntryRequest
	t := now()
	err := s.list(ctx, dir, func(e *filer_pb.Entry) error {
		if e.IsDirectory {
			return nil
		}
		f, err := decodePending(e)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		kept := f.Offsets[:0]
		for _, p := range f.Offsets {
			if !all && !drop[p.tp()] {
				kept = append(kept, p)
			}
		}
		switch {
		case len(kept) == len(f.Offsets):
		case len(kept) == 0:
			muts = append(muts, deleteMutation(dir, e.Name))
		default:
			f.Offsets = kept
			content, err := json.Marshal(&f)
			if err != nil {
				return err
			}
			muts = append(muts, createMutation(dir, fileEntry(e.Name, content, t)))
		}
		return nil
	})
	if err != nil || len(muts) == 0 {
		return err
	}
	return s.mutate(ctx, dir, muts)
}

// unexpired wraps an expiry predicate so that it never expires a partition with a pending
// offset, as Kafka's expiry skips them.
func (s *Store) unexpired(ctx context.Context, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (func(offsetstore.TopicPartition, offsetstore.Offset) bool, error) {
	pending := map[offsetstore.TopicPartition]bool{}
	err := s.listPending(ctx, s.pendingDir(group), func(f pendingFile) {
		for _, p := range f.Offsets {
			pending[p.tp()] = true
		}
	})
	if err != nil || len(pending) == 0 {
		return expired, err
	}
	return func(tp offsetstore.TopicPartition, o offsetstore.Offset) bool {
		return !pending[tp] && expired(tp, o)
	}, nil
}
