package memstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/offsetkit/offsetkit/offsetstore"
)

var _ offsetstore.Registry = (*Store)(nil)

// registry holds the records of offsetstore.Registry: collections of named values, each with
// a revision drawn from one counter, so that no revision ever repeats.
type registry struct {
	colls map[string]map[string]offsetstore.Record
	seq   uint64
}

// lockRegistry locks the registry, then fails with ErrClosed if Close ran since the caller's
// check. The caller unlocks s.regMu.
func (s *Store) lockRegistry(op, key string) error {
	s.regMu.Lock()
	if s.closed.Load() {
		s.regMu.Unlock()
		return &offsetstore.Error{Op: op, Group: key, Err: offsetstore.ErrClosed}
	}
	return nil
}

// checkRecord is check followed by offsetstore.CheckRecord.
func (s *Store) checkRecord(ctx context.Context, op, key string, value []byte, names ...string) error {
	if err := s.check(ctx, op, key); err != nil {
		return err
	}
	if err := offsetstore.CheckRecord(value, names...); err != nil {
		return &offsetstore.Error{Op: op, Group: key, Err: err}
	}
	return nil
}

// Record implements offsetstore.Registry: the stored record, or ok false.
func (s *Store) Record(ctx context.Context, collection, name string) (offsetstore.Record, bool, error) {
	const op = "Record"
	key := collection + "/" + name
	if err := s.checkRecord(ctx, op, key, nil, collection, name); err != nil {
		return offsetstore.Record{}, false, err
	}
	if err := s.lockRegistry(op, key); err != nil {
		return offsetstore.Record{}, false, err
	}
	defer s.regMu.Unlock()
	rec, ok := s.reg.colls[collection][name]
	rec.Value = bytes.Clone(rec.Value)
	return rec, ok, nil
}

// Records implements offsetstore.Registry: every record of the collection.
func (s *Store) Records(ctx context.Context, collection string) ([]offsetstore.Record, error) {
	const op = "Records"
	if err := s.checkRecord(ctx, op, collection, nil, collection); err != nil {
		return nil, err
	}
	if err := s.lockRegistry(op, collection); err != nil {
		return nil, err
	}
	defer s.regMu.Unlock()
	out := make([]offsetstore.Record, 0, len(s.reg.colls[collection]))
	for _, rec := range s.reg.colls[collection] {
		rec.Value = bytes.Clone(rec.Value)
		out = append(out, rec)
	}
	return out, nil
}

// PutRecord implements offsetstore.Registry: it stores value when the record's revision is
// still prev ("" for none).
func (s *Store) PutRecord(ctx context.Context, collection, name, prev string, value []byte) (string, error) {
	const op = "PutRecord"
	key := collection + "/" + name
	if err := s.checkRecord(ctx, op, key, value, collection, name); err != nil {
		return "", err
	}
	if err := s.lockRegistry(op, key); err != nil {
		return "", err
	}
	defer s.regMu.Unlock()
	if cur := s.reg.colls[collection][name].Rev; cur != prev {
		return "", &offsetstore.Error{Op: op, Group: key, Err: fmt.Errorf("%w: revision %q, not %q", offsetstore.ErrConflict, cur, prev)}
	}
	if s.reg.colls == nil {
		s.reg.colls = make(map[string]map[string]offsetstore.Record)
	}
	c := s.reg.colls[collection]
	if c == nil {
		c = make(map[string]offsetstore.Record)
		s.reg.colls[collection] = c
	}
	s.reg.seq++
	rec := offsetstore.Record{Name: name, Rev: strconv.FormatUint(s.reg.seq, 10), Value: bytes.Clone(value)}
	if rec.Value == nil {
		rec.Value = []byte{}
	}
	c[name] = rec
	return rec.Rev, nil
}

// DeleteRecord implements offsetstore.Registry: it removes the record when its revision is
// still prev.
func (s *Store) DeleteRecord(ctx context.Context, collection, name, prev string) error {
	const op = "DeleteRecord"
	key := collection + "/" + name
	if err := s.checkRecord(ctx, op, key, nil, collection, name); err != nil {
		return err
	}
	if err := s.lockRegistry(op, key); err != nil {
		return err
	}
	defer s.regMu.Unlock()
	rec, ok := s.reg.colls[collection][name]
	if !ok || rec.Rev != prev {
		return &offsetstore.Error{Op: op, Group: key, Err: fmt.Errorf("%w: revision %q, not %q", offsetstore.ErrConflict, rec.Rev, prev)}
	}
	delete(s.reg.colls[collection], name)
	return nil
}
