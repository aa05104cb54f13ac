package filerstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

var _ offsetstore.Fencer = (*Store)(nil)

const (
	// stateRootSuffix names the directory of group fences and states: Root with this suffix,
	// a sibling of Root that no reader of the offsets layout lists.
	stateRootSuffix = ".offsetkit"
	// groupsDirName is the directory, inside the state root, of one entry per group.
	groupsDirName = "groups"
	// fenceDocType is the "type" of a group entry's content.
	fenceDocType = "group_fence"
	// extFenced is the extended attribute set to "1" on a group entry whose fence is above 0.
	// A write conditioned on fence 0 requires it absent (IF_EXTENDED_NOT_EQUAL), which also
	// holds when the entry does not exist.
	extFenced = "offsetkit-fenced"
	// extState is the extended attribute holding the group's state as JSON.
	extState = "offsetkit-state"
)

var (
	errNoStateRoot  = fmt.Errorf("filerstore: a store whose Root is / has no sibling directory for group fences: %w", errors.ErrUnsupported)
	errCorruptFence = errors.New("filerstore: unreadable group fence entry")
)

// groupsDir is the directory of the group entries, or "" when Root is "/".
func (s *Store) groupsDir() string {
	if s.root == "/" {
		return ""
	}
	return s.root + stateRootSuffix + "/" + groupsDirName
}

// fenceContent is the content of a group entry at fence: exactly these bytes, so that a
// writer that knows only the fence knows the entry's ETag (the MD5 of its content).
func fenceContent(fence int64) []byte {
	return []byte(`{"type":"` + fenceDocType + `","fence":` + strconv.FormatInt(fence, 10) + `}`)
}

// fenceETag is the ETag the filer serves for a group entry at fence.
func fenceETag(fence int64) string {
	sum := md5.Sum(fenceContent(fence))
	return hex.EncodeToString(sum[:])
}

// fenceCondition holds, on the filer, exactly when the group entry says the group's fence is
// fence: for 0, no entry or one without the extFenced flag; above 0, the entry whose ETag is
// that of fenceContent(fence). A negative fence never holds.
func fenceCondition(fence int64) *filer_pb.WriteCondition {
	if fence == 0 {
		return &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{
			Kind: filer_pb.WriteCondition_IF_EXTENDED_NOT_EQUAL, ExtKey: extFenced, ExtValue: "1",
		}}}
	}
	return &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{
		Kind: filer_pb.WriteCondition_IF_ETAG_MATCH, Etags: []string{fenceETag(fence)},
	}}}
}

// jsonName is a string in a state document: a JSON string when it is valid UTF-8, else
// {"base64":"..."}, so that any name survives JSON.
type jsonName string

// MarshalJSON implements json.Marshaler.
func (n jsonName) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(n)) {
		return json.Marshal(string(n))
	}
	return json.Marshal(struct {
		Base64 string `json:"base64"`
	}{base64.StdEncoding.EncodeToString([]byte(n))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *jsonName) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var raw struct {
			Base64 *string `json:"base64"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		if raw.Base64 == nil {
			return errors.New("a name object without base64")
		}
		v, err := base64.StdEncoding.DecodeString(*raw.Base64)
		if err != nil {
			return err
		}
		*n = jsonName(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*n = jsonName(s)
	return nil
}

// stateDoc is the JSON document of a group's state, in the extState attribute.
type stateDoc struct {
	Group        jsonName   `json:"group"`
	ProtocolType jsonName   `json:"protocol_type"`
	Protocol     jsonName   `json:"protocol"`
	Generation   int32      `json:"generation"`
	Empty        bool       `json:"empty"`
	StateTime    int64      `json:"state_time"` // unix milliseconds, 0 for the zero time
	Subscribed   []jsonName `json:"subscribed"` // null when unknown
}

// fenceEntry builds the group entry for st.
func fenceEntry(group string, st offsetstore.GroupState, now time.Time) (*filer_pb.Entry, error) {
	doc := stateDoc{
		Group:        jsonName(group),
		ProtocolType: jsonName(st.ProtocolType),
		Protocol:     jsonName(st.Protocol),
		Generation:   st.Generation,
		Empty:        st.Empty,
		StateTime:    unixMilli(st.StateTime),
	}
	if st.Subscribed != nil {
		doc.Subscribed = make([]jsonName, len(st.Subscribed))
		for i, t := range st.Subscribed {
			doc.Subscribed[i] = jsonName(t)
		}
	}
	js, err := json.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	e := fileEntry(EscapeName(group), fenceContent(st.Fence), now)
	e.Extended = map[string][]byte{extState: js}
	if st.Fence > 0 {
		e.Extended[extFenced] = []byte("1")
	}
	return e, nil
}

// decodeFenceEntry reads a group entry: its group name and state.
func decodeFenceEntry(e *filer_pb.Entry) (string, offsetstore.GroupState, error) {
	if e.IsDirectory || len(e.Chunks) > 0 {
		return "", offsetstore.GroupState{}, fmt.Errorf("%w: not a small file", errCorruptFence)
	}
	var fd struct {
		Type  string `json:"type"`
		Fence *int64 `json:"fence"`
	}
	if err := json.Unmarshal(e.Content, &fd); err != nil || fd.Type != fenceDocType || fd.Fence == nil {
		return "", offsetstore.GroupState{}, fmt.Errorf("%w: content %q", errCorruptFence, e.Content)
	}
	// The entry's ETag must be the one writes compare: the MD5 of exactly fenceContent.
	if !bytes.Equal(e.Content, fenceContent(*fd.Fence)) || entryETag(e) != fenceETag(*fd.Fence) {
		return "", offsetstore.GroupState{}, fmt.Errorf("%w: content %q is not canonical or its MD5 does not match", errCorruptFence, e.Content)
	}
	var doc stateDoc
	js, ok := e.Extended[extState]
	if !ok {
		return "", offsetstore.GroupState{}, fmt.Errorf("%w: no %s attribute", errCorruptFence, extState)
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return "", offsetstore.GroupState{}, fmt.Errorf("%w: %s: %v", errCorruptFence, extState, err)
	}
	st := offsetstore.GroupState{
		Fence:        *fd.Fence,
		ProtocolType: string(doc.ProtocolType),
		Protocol:     string(doc.Protocol),
		Generation:   doc.Generation,
		Empty:        doc.Empty,
		StateTime:    fromUnixMilli(doc.StateTime),
	}
	if doc.Subscribed != nil {
		st.Subscribed = make([]string, len(doc.Subscribed))
		for i, t := range doc.Subscribed {
			st.Subscribed[i] = string(t)
		}
	}
	return string(doc.Group), st, nil
}

// fenced starts a Fencer call: the state root must exist and the filer must have
// ObjectTransaction.
func (s *Store) fenced(ctx context.Context, group string) error {
	if s.groupsDir() == "" {
		return errNoStateRoot
	}
	return s.probeTxn(ctx, s.groupDir(group))
}

// GroupState implements offsetstore.Fencer: one lookup of the group's entry (see the package
// documentation for its format). A group without an entry is at fence 0 with a zero state.
// On a filer without ObjectTransaction it returns an error matching errors.ErrUnsupported.
func (s *Store) GroupState(ctx context.Context, group string) (offsetstore.GroupState, error) {
	const op = "GroupState"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return offsetstore.GroupState{}, s.fail(ctx, op, group, err)
	}
	defer done()
	st, err := s.groupState(opCtx, group)
	if err != nil {
		return offsetstore.GroupState{}, s.fail(ctx, op, group, err)
	}
	return st, nil
}

func (s *Store) groupState(ctx context.Context, group string) (offsetstore.GroupState, error) {
	if err := s.fenced(ctx, group); err != nil {
		return offsetstore.GroupState{}, err
	}
	dir, esc := s.groupsDir(), EscapeName(group)
	e, err := s.lookupOne(ctx, dir, esc)
	if err != nil || e == nil {
		return offsetstore.GroupState{}, err
	}
	g, st, err := decodeFenceEntry(e)
	if err != nil {
		return offsetstore.GroupState{}, fmt.Errorf("%s/%s: %w", dir, esc, err)
	}
	if g != group {
		return offsetstore.GroupState{}, fmt.Errorf("%s/%s: %w: it belongs to group %q", dir, esc, errCorruptFence, g)
	}
	return st, nil
}

// GroupStates implements offsetstore.Fencer: a paginated listing of the group entries.
// Entries that are not the store's (their name is not the escaped name of the group they
// hold) are skipped with a warning.
func (s *Store) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	return call(ctx, s, "GroupStates", "", func(ctx context.Context) (map[string]offsetstore.GroupState, error) {
		return s.groupStates(ctx)
	})
}

func (s *Store) groupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	dir := s.groupsDir()
	if dir == "" {
		return nil, errNoStateRoot
	}
	if err := s.probeTxn(ctx, dir); err != nil {
		return nil, err
	}
	out := make(map[string]offsetstore.GroupState)
	err := s.list(ctx, dir, func(e *filer_pb.Entry) error {
		if e.IsDirectory {
			s.log.Warn("filerstore: skipping a directory among the group entries", "dir", joinPath(dir, e.Name))
			return nil
		}
		g, st, err := decodeFenceEntry(e)
		if err != nil {
			return fmt.Errorf("%s: %w", joinPath(dir, e.Name), err)
		}
		if EscapeName(g) != e.Name {
			s.log.Warn("filerstore: skipping a group entry whose name is not its group's", "entry", joinPath(dir, e.Name))
			return nil
		}
		if !st.IsZero() {
			out[g] = st
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveGroupState implements offsetstore.Fencer: one ObjectTransaction under the lock of the
// group's offsets directory, conditioned on the group entry holding prev, that writes the
// entry.
func (s *Store) SaveGroupState(ctx context.Context, group string, prev int64, st offsetstore.GroupState) error {
	const op = "SaveGroupState"
	if st.Fence < prev {
		return s.fail(ctx, op, group, fmt.Errorf("%w: fence %d moves back from %d", offsetstore.ErrInvalid, st.Fence, prev))
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	return s.fail(ctx, op, group, s.saveGroupState(opCtx, group, prev, st))
}

func (s *Store) saveGroupState(ctx context.Context, group string, prev int64, st offsetstore.GroupState) error {
	if err := s.fenced(ctx, group); err != nil {
		return err
	}
	e, err := fenceEntry(group, st, now())
	if err != nil {
		return err
	}
	_, err = s.fencedTransact(ctx, group, prev, []*filer_pb.ObjectMutation{{
		Type: filer_pb.ObjectMutation_PUT, Directory: s.groupsDir(), Entry: e,
	}})
	return err
}

// CommitFenced implements offsetstore.Fencer: Commit as one ObjectTransaction per 1,024
// partitions, each conditioned on the group's fence; an empty batch is one transaction that
// only checks the fence.
func (s *Store) CommitFenced(ctx context.Context, group string, fence int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.writeOffsets(ctx, "CommitFenced", group, offsets, func(ctx context.Context) error {
		return s.commitFenced(ctx, group, fence, offsets)
	})
}

func (s *Store) commitFenced(ctx context.Context, group string, fence int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := s.fenced(ctx, group); err != nil {
		return err
	}
	var txn []*filer_pb.ObjectMutation
	if len(offsets) > 0 {
		_, markers, muts, err := s.commitMutations(group, offsets)
		if err != nil {
			return err
		}
		txn = make([]*filer_pb.ObjectMutation, 0, len(markers)+len(muts))
		for _, m := range markers {
			txn = append(txn, objectMutation(m)) // markers first, in the first transaction
		}
		for _, m := range muts {
			txn = append(txn, objectMutation(m))
		}
	}
	_, err := s.fencedTransact(ctx, group, fence, txn)
	return err
}

// DeleteFenced implements offsetstore.Fencer: Delete as one ObjectTransaction per 1,024
// partitions, each conditioned on the group's fence.
func (s *Store) DeleteFenced(ctx context.Context, group string, fence int64, partitions []offsetstore.TopicPartition) error {
	const op = "DeleteFenced"
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return s.fail(ctx, op, group, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	return s.fail(ctx, op, group, s.deleteFenced(opCtx, group, fence, partitions))
}

func (s *Store) deleteFenced(ctx context.Context, group string, fence int64, partitions []offsetstore.TopicPartition) error {
	if err := s.fenced(ctx, group); err != nil {
		return err
	}
	groupDir := s.groupDir(group)
	seen := make(map[offsetstore.TopicPartition]struct{}, len(partitions))
	txn := make([]*filer_pb.ObjectMutation, 0, len(partitions))
	for _, tp := range partitions {
		if _, dup := seen[tp]; dup {
			continue
		}
		seen[tp] = struct{}{}
		txn = append(txn, objectMutation(deleteMutation(s.partitionDir(groupDir, tp), offsetFileName)))
	}
	if _, err := s.fencedTransact(ctx, group, fence, txn); err != nil {
		return err
	}
	return s.dropPending(ctx, group, partitions, false)
}

// DeleteGroupFenced implements offsetstore.Fencer: DeleteGroup as one ObjectTransaction,
// conditioned on the group's fence, that deletes the group's directory if it exists (else
// ErrGroupNotFound). The group's entry, with its fence and state, stays.
func (s *Store) DeleteGroupFenced(ctx context.Context, group string, fence int64) error {
	const op = "DeleteGroupFenced"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	return s.fail(ctx, op, group, s.deleteGroupFenced(opCtx, group, fence))
}

func (s *Store) deleteGroupFenced(ctx context.Context, group string, fence int64) error {
	if err := s.fenced(ctx, group); err != nil {
		return err
	}
	skipped, err := s.fencedTransact(ctx, group, fence, []*filer_pb.ObjectMutation{{
		Type:         filer_pb.ObjectMutation_DELETE,
		Directory:    s.root,
		Name:         EscapeName(group),
		IsDeleteData: true,
		IsRecursive:  true,
		Condition:    &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{Kind: filer_pb.WriteCondition_IF_EXISTS}}},
	}})
	if err != nil {
		return err
	}
	if err := s.dropPending(ctx, group, nil, true); err != nil {
		return err
	}
	if len(skipped) > 0 {
		return offsetstore.ErrGroupNotFound
	}
	return nil
}

// ExpireOffsetsFenced implements offsetstore.Fencer: ExpireOffsets whose conditional deletes
// go in ObjectTransactions that are also conditioned on the group's fence. When nothing is
// to be deleted, one transaction without mutations still checks the fence.
func (s *Store) ExpireOffsetsFenced(ctx context.Context, group string, fence int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return call(ctx, s, "ExpireOffsetsFenced", group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		return s.expireOffsets(ctx, group, true, fence, expired)
	})
}

// fencedTransact applies the mutations in order, in ObjectTransaction calls of up to
// txnBatchSize mutations (at least one call, to check the fence of an empty batch), each
// under the lock of the group's directory and conditioned, by the filer under that lock, on
// the group's entry holding fence. A call whose condition fails ends with ErrFenced, having
// applied nothing of its own mutations (earlier calls stay applied). A mutation whose own
// condition fails is skipped and reported in skipped (by index). Like every transaction of
// the store, each call goes through submitTxn, so fenced commits of different groups share
// round trips when Options.TxnRoundTrips asks for it.
func (s *Store) fencedTransact(ctx context.Context, group string, fence int64, muts []*filer_pb.ObjectMutation) (skipped []int, err error) {
	if s.noTxn.Load() {
		return nil, errNoTransactions
	}
	lockKey := s.groupDir(group)
	skipped, err = s.transactOn(ctx, txnTarget{
		lockKey: lockKey, condKey: joinPath(s.groupsDir(), EscapeName(group)), cond: fenceCondition(fence), fence: fence,
	}, muts)
	if isUnimplemented(err) {
		s.noTxn.Store(true)
		return nil, errNoTransactions
	}
	return skipped, err
}
