package filerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Commit stores every offset of the batch (last writer wins): one ObjectTransaction per
// 1,024 partitions (see the package documentation for older filers). A group or topic with a
// hashed name first gets its marker file, so that every stored offset can be listed under its
// original name.
func (s *Store) Commit(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.writeOffsets(ctx, "Commit", group, offsets, func(ctx context.Context) error {
		return s.commit(ctx, group, offsets)
	})
}

// call runs op on group, as every operation of the store runs: fn with a context that the
// store's Close also cancels, any failure reported as op's (see fail).
func call[T any](ctx context.Context, s *Store, op, group string, fn func(context.Context) (T, error)) (T, error) {
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		var zero T
		return zero, s.fail(ctx, op, group, err)
	}
	defer done()
	out, err := fn(opCtx)
	if err != nil {
		var zero T
		return zero, s.fail(ctx, op, group, err)
	}
	return out, nil
}

// writeOffsets runs op, a write of offsets to group, as every such operation of the store
// runs: it validates the offsets, then runs write with a context that the store's Close also
// cancels, and reports any failure as op's (see fail).
func (s *Store) writeOffsets(ctx context.Context, op, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset, write func(context.Context) error) error {
	if err := offsetstore.ValidateOffsets(offsets); err != nil {
		return s.fail(ctx, op, group, err)
	}
	_, err := call(ctx, s, op, group, func(ctx context.Context) (struct{}, error) { return struct{}{}, write(ctx) })
	return err
}

func (s *Store) commit(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	groupDir, markers, muts, err := s.commitMutations(group, offsets)
	if err != nil {
		return err
	}
	// Markers go first: an offset is never stored under a hashed name that cannot be read
	// back as its original. A transaction applies its mutations in order, so one does.
	if len(markers) > 0 && !s.noTxn.Load() {
		txn := make([]*filer_pb.ObjectMutation, 0, len(markers)+len(muts))
		for _, m := range append(markers, muts...) {
			txn = append(txn, objectMutation(m))
		}
		_, err := s.transact(ctx, groupDir, txn)
		if !isUnimplemented(err) {
			return err
		}
		s.noTxn.Store(true)
	}
	if len(markers) > 0 {
		if err := s.mutate(ctx, groupDir, markers); err != nil {
			return err
		}
	}
	return s.mutate(ctx, groupDir, muts)
}

// commitMutations builds the writes of a Commit: marker files of hashed names (which must be
// written first) and offset files.
func (s *Store) commitMutations(group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) (groupDir string, markers, muts []*filer_pb.StreamMutateEntryRequest, err error) {
	t := now()
	groupEsc := EscapeName(group)
	groupDir = joinPath(s.root, groupEsc)
	if isHashed(groupEsc) {
		markers = append(markers, createMutation(groupDir, fileEntry(nameFileName, []byte(group), t)))
	}
	muts = make([]*filer_pb.StreamMutateEntryRequest, 0, len(offsets))
	topicDirs := make(map[string]string)
	for tp, o := range offsets {
		topicDir, ok := topicDirs[tp.Topic]
		if !ok {
			topicEsc := EscapeName(tp.Topic)
			topicDir = joinPath(groupDir, topicEsc)
			topicDirs[tp.Topic] = topicDir
			if isHashed(topicEsc) {
				markers = append(markers, createMutation(topicDir, fileEntry(nameFileName, []byte(tp.Topic), t)))
			}
		}
		content, err := encodeOffset(o)
		if err != nil {
			return "", nil, nil, err
		}
		partDir := joinPath(topicDir, strconv.FormatInt(int64(tp.Partition), 10))
		muts = append(muts, createMutation(partDir, fileEntry(offsetFileName, content, t)))
	}
	return groupDir, markers, muts, nil
}

// Fetch returns the stored offsets of the requested partitions: one LookupDirectoryEntry for
// one partition, one LookupDirectoryEntries call per 1,024 partitions for more.
func (s *Store) Fetch(ctx context.Context, group string, partitions []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	const op = "Fetch"
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return nil, s.fail(ctx, op, group, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, group, err)
	}
	defer done()
	out, err := s.fetch(opCtx, group, partitions)
	if err != nil {
		return nil, s.fail(ctx, op, group, err)
	}
	return out, nil
}

func (s *Store) fetch(ctx context.Context, group string, partitions []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(partitions))
	if len(partitions) == 0 {
		return out, nil
	}
	groupDir := s.groupDir(group)
	seen := make(map[offsetstore.TopicPartition]struct{}, len(partitions))
	keys := make([]offsetstore.TopicPartition, 0, len(partitions))
	reqs := make([]*filer_pb.LookupDirectoryEntryRequest, 0, len(partitions))
	for _, tp := range partitions {
		if _, dup := seen[tp]; dup {
			continue
		}
		seen[tp] = struct{}{}
		keys = append(keys, tp)
		reqs = append(reqs, &filer_pb.LookupDirectoryEntryRequest{
			Directory: s.partitionDir(groupDir, tp),
			Name:      offsetFileName,
		})
	}
	if len(reqs) == 1 {
		e, err := s.lookupOne(ctx, reqs[0].Directory, reqs[0].Name)
		if err != nil || e == nil {
			return out, err
		}
		o, err := entryOffset(e)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", reqs[0].Directory, reqs[0].Name, err)
		}
		out[keys[0]] = o
		return out, nil
	}
	results, err := s.lookup(ctx, reqs)
	if err != nil {
		return nil, err
	}
	for i, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if r.entry == nil {
			continue
		}
		o, err := entryOffset(r.entry)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", reqs[i].Directory, reqs[i].Name, err)
		}
		out[keys[i]] = o
	}
	return out, nil
}

func (s *Store) partitionDir(groupDir string, tp offsetstore.TopicPartition) string {
	return joinPath(joinPath(groupDir, EscapeName(tp.Topic)), strconv.FormatInt(int64(tp.Partition), 10))
}

// FetchAll returns every stored offset of group, read with one TraverseBfsMetadata stream
// over the group's directory (or, on a filer without it, paginated listings and batched
// lookups).
func (s *Store) FetchAll(ctx context.Context, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return call(ctx, s, "FetchAll", group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		return s.fetchAll(ctx, group)
	})
}

// groupTree is what FetchAll gathers about one group's directory.
type groupTree struct {
	topics map[string]*topicTree // by escaped topic directory name
}

type topicTree struct {
	marker    []byte // content of the %name marker, for a hashed topic
	hasMarker bool
	parts     map[int32]*filer_pb.Entry // offset file entries by partition
	partDirs  []int32                   // partition directories seen by a listing
}

func (g *groupTree) topic(dir string) *topicTree {
	t := g.topics[dir]
	if t == nil {
		t = &topicTree{parts: make(map[int32]*filer_pb.Entry)}
		g.topics[dir] = t
	}
	return t
}

func (s *Store) fetchAll(ctx context.Context, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	stored, err := s.readGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(stored))
	for tp, st := range stored {
		out[tp] = st.offset
	}
	return out, nil
}

// storedOffset is one offset file of a group, as read.
type storedOffset struct {
	offset offsetstore.Offset
	dir    string          // the partition directory
	entry  *filer_pb.Entry // the offset file
}

// readGroup reads every offset file of group.
func (s *Store) readGroup(ctx context.Context, group string) (map[offsetstore.TopicPartition]storedOffset, error) {
	groupEsc := EscapeName(group)
	groupDir := joinPath(s.root, groupEsc)
	tree := &groupTree{topics: make(map[string]*topicTree)}
	var err error
	if !s.noTraverse.Load() {
		err = s.traverseGroup(ctx, groupDir, tree)
		if isUnimplemented(err) {
			s.noTraverse.Store(true)
			tree.topics = make(map[string]*topicTree)
		} else if err != nil {
			if errors.Is(err, errGroupDirNotFound) {
				return map[offsetstore.TopicPartition]storedOffset{}, nil
			}
			// Settle any other failure with a lookup, whose not-found is definite.
			e, lerr := s.lookupOne(ctx, s.root, groupEsc)
			if lerr == nil && e == nil {
				return map[offsetstore.TopicPartition]storedOffset{}, nil
			}
			return nil, err
		}
	}
	if s.noTraverse.Load() {
		if err := s.listGroup(ctx, groupDir, tree); err != nil {
			return nil, err
		}
	}
	return s.assemble(groupDir, tree)
}

// traverseGroup reads the group's whole subtree in one TraverseBfsMetadata stream.
func (s *Store) traverseGroup(ctx context.Context, groupDir string, tree *groupTree) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.client.TraverseBfsMetadata(ctx, &filer_pb.TraverseBfsMetadataRequest{Directory: groupDir})
	if err != nil {
		if isUnimplemented(err) {
			return err
		}
		return fmt.Errorf("TraverseBfsMetadata %s: %w", groupDir, err)
	}
	prefix := groupDir + "/"
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if isUnimplemented(err) {
				return err
			}
			if isTraverseNotFound(err, groupDir) {
				return errGroupDirNotFound
			}
			return fmt.Errorf("TraverseBfsMetadata %s: %w", groupDir, err)
		}
		e := resp.Entry
		if e == nil || !strings.HasPrefix(resp.Directory, prefix) {
			continue // the group directory itself, and its own marker
		}
		rel := resp.Directory[len(prefix):]
		topicDir, partName, nested := strings.Cut(rel, "/")
		switch {
		case !nested && e.Name == nameFileName && !e.IsDirectory:
			t := tree.topic(topicDir)
			t.marker, t.hasMarker = e.Content, true
		case nested && e.Name == offsetFileName && !strings.Contains(partName, "/"):
			p, ok := parsePartition(partName)
			if !ok {
				s.log.Warn("filerstore: skipping a directory that is not a partition", "dir", resp.Directory)
				continue
			}
			tree.topic(topicDir).parts[p] = e
		}
	}
}

// errGroupDirNotFound is the filer's not-found for a group's directory, as a traversal
// reports it.
var errGroupDirNotFound = errors.New("filerstore: group directory not found")

// isTraverseNotFound reports whether err is TraverseBfsMetadata's answer for a directory that
// does not exist: the filer sends its not-found only as text, exactly
// "find dir <dir>: filer: no entry is found in filer store", with code Unknown. Any other
// text is an error.
func isTraverseNotFound(err error, dir string) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unknown && st.Message() == "find dir "+dir+": "+filer_pb.ErrNotFound.Error()
}

// listGroup gathers the group's tree with paginated listings and batched lookups.
func (s *Store) listGroup(ctx context.Context, groupDir string, tree *groupTree) error {
	var topicDirs []string
	err := s.list(ctx, groupDir, func(e *filer_pb.Entry) error {
		if e.IsDirectory {
			topicDirs = append(topicDirs, e.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range topicDirs {
		tree.topic(d)
	}
	err = forEach(ctx, len(topicDirs), s.par, func(ctx context.Context, i int) error {
		t := tree.topics[topicDirs[i]] // only read: the map is complete
		dir := joinPath(groupDir, topicDirs[i])
		return s.list(ctx, dir, func(e *filer_pb.Entry) error {
			switch {
			case e.IsDirectory:
				if p, ok := parsePartition(e.Name); ok {
					t.partDirs = append(t.partDirs, p)
				} else {
					s.log.Warn("filerstore: skipping a directory that is not a partition", "dir", joinPath(dir, e.Name))
				}
			case e.Name == nameFileName:
				t.marker, t.hasMarker = e.Content, true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	type key struct {
		topic string
		part  int32
	}
	var keys []key
	var reqs []*filer_pb.LookupDirectoryEntryRequest
	for _, d := range topicDirs {
		for _, p := range tree.topics[d].partDirs {
			keys = append(keys, key{d, p})
			reqs = append(reqs, &filer_pb.LookupDirectoryEntryRequest{
				Directory: joinPath(joinPath(groupDir, d), strconv.FormatInt(int64(p), 10)),
				Name:      offsetFileName,
			})
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	results, err := s.lookup(ctx, reqs)
	if err != nil {
		return err
	}
	for i, r := range results {
		if r.err != nil {
			return r.err
		}
		if r.entry != nil {
			tree.topics[keys[i].topic].parts[keys[i].part] = r.entry
		}
	}
	return nil
}

// assemble turns a gathered tree into offsets under their original topic names.
func (s *Store) assemble(groupDir string, tree *groupTree) (map[offsetstore.TopicPartition]storedOffset, error) {
	n := 0
	for _, t := range tree.topics {
		n += len(t.parts)
	}
	out := make(map[offsetstore.TopicPartition]storedOffset, n)
	for dir, t := range tree.topics {
		if len(t.parts) == 0 {
			continue
		}
		topicDir := joinPath(groupDir, dir)
		topic, err := s.dirName(dir, t.marker, t.hasMarker)
		if err != nil {
			if errors.Is(err, errBadEscape) {
				s.log.Warn("filerstore: skipping a topic directory that is not an escaped name", "dir", topicDir)
				continue
			}
			return nil, fmt.Errorf("%s: %w", topicDir, err)
		}
		for p, e := range t.parts {
			partDir := joinPath(topicDir, strconv.FormatInt(int64(p), 10))
			o, err := entryOffset(e)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", partDir, offsetFileName, err)
			}
			out[offsetstore.TopicPartition{Topic: topic, Partition: p}] = storedOffset{offset: o, dir: partDir, entry: e}
		}
	}
	return out, nil
}

// dirName returns the original name of an escaped directory name, using the content of its
// marker file for a hashed one.
func (s *Store) dirName(dir string, marker []byte, hasMarker bool) (string, error) {
	name, err := UnescapeName(dir)
	if !errors.Is(err, ErrHashedName) {
		return name, err
	}
	if !hasMarker {
		return "", errors.New("filerstore: hashed name without its marker file")
	}
	name = string(marker)
	if EscapeName(name) != dir {
		return "", errors.New("filerstore: marker file does not match its hashed name")
	}
	return name, nil
}

// parsePartition parses a partition directory name: a canonical non-negative int32.
func parsePartition(s string) (int32, bool) {
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != s {
		return 0, false
	}
	return int32(p), true
}

// Delete removes the offset files of the given partitions; absent ones are ignored. The empty
// partition directories stay, as the gateway's layout allows.
func (s *Store) Delete(ctx context.Context, group string, partitions []offsetstore.TopicPartition) error {
	const op = "Delete"
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return s.fail(ctx, op, group, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	groupDir := s.groupDir(group)
	seen := make(map[offsetstore.TopicPartition]struct{}, len(partitions))
	muts := make([]*filer_pb.StreamMutateEntryRequest, 0, len(partitions))
	for _, tp := range partitions {
		if _, dup := seen[tp]; dup {
			continue
		}
		seen[tp] = struct{}{}
		muts = append(muts, deleteMutation(s.partitionDir(groupDir, tp), offsetFileName))
	}
	if err := s.dropPending(opCtx, group, partitions, false); err != nil {
		return s.fail(ctx, op, group, err)
	}
	return s.fail(ctx, op, group, s.mutate(opCtx, groupDir, muts))
}

// DeleteGroup removes the group's directory and everything in it: a lookup, then one
// recursive DeleteEntry. It returns an error matching offsetstore.ErrGroupNotFound when the
// group has no directory.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	const op = "DeleteGroup"
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	defer done()
	if err := s.dropPending(opCtx, group, nil, true); err != nil {
		return s.fail(ctx, op, group, err)
	}
	esc := EscapeName(group)
	e, err := s.lookupOne(opCtx, s.root, esc)
	if err != nil {
		return s.fail(ctx, op, group, err)
	}
	if e == nil {
		return s.fail(ctx, op, group, offsetstore.ErrGroupNotFound)
	}
	resp, err := s.client.DeleteEntry(opCtx, &filer_pb.DeleteEntryRequest{
		Directory:    s.root,
		Name:         esc,
		IsDeleteData: true,
		IsRecursive:  true,
	})
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	if err != nil {
		err = fmt.Errorf("DeleteEntry %s: %w", joinPath(s.root, esc), err)
	}
	return s.fail(ctx, op, group, err)
}

// ListGroups returns every group with a directory under Root, under its original name:
// paginated listings of Root, plus one batched lookup of the marker files of hashed names.
// Directories that are not escaped names (written by something else) are skipped.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	return call(ctx, s, "ListGroups", "", func(ctx context.Context) ([]string, error) {
		return s.listGroups(ctx)
	})
}

func (s *Store) listGroups(ctx context.Context) ([]string, error) {
	groups := []string{}
	var hashedDirs []string
	err := s.list(ctx, s.root, func(e *filer_pb.Entry) error {
		if !e.IsDirectory {
			return nil
		}
		name, err := UnescapeName(e.Name)
		switch {
		case errors.Is(err, ErrHashedName):
			hashedDirs = append(hashedDirs, e.Name)
		case err != nil:
			s.log.Warn("filerstore: skipping a group directory that is not an escaped name", "dir", joinPath(s.root, e.Name))
		default:
			groups = append(groups, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(hashedDirs) == 0 {
		return groups, nil
	}
	reqs := make([]*filer_pb.LookupDirectoryEntryRequest, len(hashedDirs))
	for i, d := range hashedDirs {
		reqs[i] = &filer_pb.LookupDirectoryEntryRequest{Directory: joinPath(s.root, d), Name: nameFileName}
	}
	results, err := s.lookup(ctx, reqs)
	if err != nil {
		return nil, err
	}
	for i, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if r.entry == nil {
			// Markers are written before any offset, so a hashed directory without one
			// holds no offsets: a commit failed half-way.
			continue
		}
		name, err := s.dirName(hashedDirs[i], r.entry.Content, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", joinPath(s.root, hashedDirs[i]), err)
		}
		groups = append(groups, name)
	}
	return groups, nil
}
