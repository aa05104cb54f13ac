package storetest_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// blindPut is a Registry whose PutRecord writes whatever revision the record is at, the way a
// store that reads the revision and then writes without a condition does.
type blindPut struct{ *memstore.Store }

func (s blindPut) PutRecord(ctx context.Context, coll, name, _ string, value []byte) (string, error) {
	for {
		rec, _, err := s.Store.Record(ctx, coll, name)
		if err != nil {
			return "", err
		}
		rev, err := s.Store.PutRecord(ctx, coll, name, rec.Rev, value)
		if !errors.Is(err, offsetstore.ErrConflict) {
			return rev, err
		}
	}
}

// contentRev is a Registry whose revisions are the hash of the value, the way a store that
// uses a content ETag as the revision does: rewriting the same value keeps the revision, so a
// renewal is invisible and an old writer's condition still holds.
type contentRev struct{ *memstore.Store }

func (s contentRev) rev(value []byte) string {
	sum := md5.Sum(value)
	return hex.EncodeToString(sum[:])
}

func (s contentRev) Record(ctx context.Context, coll, name string) (offsetstore.Record, bool, error) {
	rec, ok, err := s.Store.Record(ctx, coll, name)
	if ok {
		rec.Rev = s.rev(rec.Value)
	}
	return rec, ok, err
}

func (s contentRev) Records(ctx context.Context, coll string) ([]offsetstore.Record, error) {
	recs, err := s.Store.Records(ctx, coll)
	for i := range recs {
		recs[i].Rev = s.rev(recs[i].Value)
	}
	return recs, err
}

func (s contentRev) PutRecord(ctx context.Context, coll, name, prev string, value []byte) (string, error) {
	inner := ""
	if prev != "" {
		rec, ok, err := s.Store.Record(ctx, coll, name)
		if err != nil {
			return "", err
		}
		if ok && s.rev(rec.Value) == prev {
			inner = rec.Rev
		} else {
			inner = "stale"
		}
	}
	if _, err := s.Store.PutRecord(ctx, coll, name, inner, value); err != nil {
		return "", err
	}
	return s.rev(value), nil
}

func (s contentRev) DeleteRecord(ctx context.Context, coll, name, prev string) error {
	rec, ok, err := s.Store.Record(ctx, coll, name)
	if err != nil {
		return err
	}
	inner := "stale"
	if ok && s.rev(rec.Value) == prev {
		inner = rec.Rev
	}
	return s.Store.DeleteRecord(ctx, coll, name, inner)
}
