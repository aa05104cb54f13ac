package filerstore

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

var _ offsetstore.Registry = (*Store)(nil)

// clusterDirName is the directory, inside the state root (Root.offsetkit), of the Registry
// collections: {Root}.offsetkit/cluster/{collection}/{name}.
const clusterDirName = "cluster"

// recordDocType is the "type" of a record entry's content.
const recordDocType = "record"

var errNoRecordRoot = fmt.Errorf("filerstore: a store whose Root is / has no sibling directory for records: %w", errors.ErrUnsupported)

// recordDoc is the content of a record entry. Nonce is random and new for every write, so no
// two writes of a record have the same content, and the MD5 of the content (the entry's ETag,
// which a conditional write compares) is the record's revision.
type recordDoc struct {
	Type  string `json:"type"`
	Nonce string `json:"nonce"`
	Value string `json:"value"` // base64
}

// collectionDir is the directory of a collection's records.
func (s *Store) collectionDir(collection string) (string, error) {
	if s.root == "/" {
		return "", errNoRecordRoot
	}
	return s.root + stateRootSuffix + "/" + clusterDirName + "/" + collection, nil
}

// recordOf reads a record entry: its revision is its ETag, the MD5 of its content.
func recordOf(e *filer_pb.Entry) (offsetstore.Record, error) {
	var doc recordDoc
	if e.IsDirectory || len(e.Chunks) > 0 {
		return offsetstore.Record{}, fmt.Errorf("%w: record %s is not an inline file", errCorrupt, e.Name)
	}
	if err := json.Unmarshal(e.Content, &doc); err != nil || doc.Type != recordDocType {
		return offsetstore.Record{}, fmt.Errorf("%w: record %s: %v", errCorrupt, e.Name, err)
	}
	value, err := base64.StdEncoding.DecodeString(doc.Value)
	if err != nil {
		return offsetstore.Record{}, fmt.Errorf("%w: record %s: %v", errCorrupt, e.Name, err)
	}
	rev := entryETag(e)
	if sum := md5.Sum(e.Content); rev != hex.EncodeToString(sum[:]) {
		return offsetstore.Record{}, fmt.Errorf("%w: record %s: its MD5 attribute is not its content's", errCorrupt, e.Name)
	}
	return offsetstore.Record{Name: e.Name, Rev: rev, Value: value}, nil
}

// Record implements offsetstore.Registry: one LookupDirectoryEntry of
// {Root}.offsetkit/cluster/{collection}/{name}.
func (s *Store) Record(ctx context.Context, collection, name string) (offsetstore.Record, bool, error) {
	const op = "Record"
	key := collection + "/" + name
	if err := offsetstore.CheckRecord(nil, collection, name); err != nil {
		return offsetstore.Record{}, false, s.fail(ctx, op, key, err)
	}
	dir, err := s.collectionDir(collection)
	if err != nil {
		return offsetstore.Record{}, false, s.fail(ctx, op, key, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return offsetstore.Record{}, false, s.fail(ctx, op, key, err)
	}
	defer done()
	e, err := s.lookupOne(opCtx, dir, name)
	if err != nil || e == nil {
		return offsetstore.Record{}, false, s.fail(ctx, op, key, err)
	}
	rec, err := recordOf(e)
	if err != nil {
		return offsetstore.Record{}, false, s.fail(ctx, op, key, err)
	}
	return rec, true, nil
}

// Records implements offsetstore.Registry: a paginated listing of the collection's
// directory.
func (s *Store) Records(ctx context.Context, collection string) ([]offsetstore.Record, error) {
	const op = "Records"
	if err := offsetstore.CheckRecord(nil, collection); err != nil {
		return nil, s.fail(ctx, op, collection, err)
	}
	dir, err := s.collectionDir(collection)
	if err != nil {
		return nil, s.fail(ctx, op, collection, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, collection, err)
	}
	defer done()
	out := []offsetstore.Record{}
	err = s.list(opCtx, dir, func(e *filer_pb.Entry) error {
		if !offsetstore.ValidRecordName(e.Name) {
			return nil
		}
		rec, err := recordOf(e)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, op, collection, err)
	}
	return out, nil
}

// PutRecord implements offsetstore.Registry: one ObjectTransaction whose PUT the filer
// conditions on the record's ETag being prev (IF_ETAG_MATCH), or on there being no record
// (IF_NOT_EXISTS) when prev is "". It needs a filer with ObjectTransaction (SeaweedFS 4.29+)
// and fails with an error matching errors.ErrUnsupported on an older one.
func (s *Store) PutRecord(ctx context.Context, collection, name, prev string, value []byte) (string, error) {
	const op = "PutRecord"
	key := collection + "/" + name
	if err := offsetstore.CheckRecord(value, collection, name); err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	dir, err := s.collectionDir(collection)
	if err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	defer done()
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	content, err := json.Marshal(recordDoc{Type: recordDocType, Nonce: hex.EncodeToString(nonce[:]), Value: base64.StdEncoding.EncodeToString(value)})
	if err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	cond := &filer_pb.WriteCondition_Clause{Kind: filer_pb.WriteCondition_IF_NOT_EXISTS}
	if prev != "" {
		cond = &filer_pb.WriteCondition_Clause{Kind: filer_pb.WriteCondition_IF_ETAG_MATCH, Etags: []string{prev}}
	}
	mut := &filer_pb.ObjectMutation{
		Type:      filer_pb.ObjectMutation_PUT,
		Directory: dir,
		Entry:     fileEntry(name, content, now()),
		Condition: &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{cond}},
	}
	if err := s.conditional(opCtx, joinPath(dir, name), mut, prev); err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	sum := md5.Sum(content)
	return hex.EncodeToString(sum[:]), nil
}

// DeleteRecord implements offsetstore.Registry: one ObjectTransaction whose DELETE the filer
// conditions on the record's ETag being prev.
func (s *Store) DeleteRecord(ctx context.Context, collection, name, prev string) error {
	const op = "DeleteRecord"
	key := collection + "/" + name
	if err := offsetstore.CheckRecord(nil, collection, name); err != nil {
		return s.fail(ctx, op, key, err)
	}
	dir, err := s.collectionDir(collection)
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	opCtx, done, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	defer done()
	if prev == "" {
		return s.fail(ctx, op, key, fmt.Errorf("%w: no revision given", offsetstore.ErrConflict))
	}
	mut := &filer_pb.ObjectMutation{
		Type:         filer_pb.ObjectMutation_DELETE,
		Directory:    dir,
		Name:         name,
		IsDeleteData: true,
		Condition: &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{
			Kind: filer_pb.WriteCondition_IF_ETAG_MATCH, Etags: []string{prev},
		}}},
	}
	return s.fail(ctx, op, key, s.conditional(opCtx, joinPath(dir, name), mut, prev))
}

// conditional applies one conditional mutation under the record's lock: a failed condition is
// ErrConflict.
func (s *Store) conditional(ctx context.Context, lockKey string, mut *filer_pb.ObjectMutation, prev string) error {
	if s.noTxn.Load() {
		return errNoTransactions
	}
	skipped, err := s.transact(ctx, lockKey, []*filer_pb.ObjectMutation{mut})
	switch {
	case isUnimplemented(err):
		s.noTxn.Store(true)
		return errNoTransactions
	case err != nil:
		return err
	case len(skipped) > 0:
		return fmt.Errorf("%w: the record is not at revision %q", offsetstore.ErrConflict, prev)
	}
	return nil
}
