package storetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// checkRegistry checks offsetstore.Registry: compare-and-set records in collections.
func checkRegistry(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	reg, ok := s.(offsetstore.Registry)
	if !ok {
		return
	}
	recs, err := reg.Records(ctx, "c")
	if errors.Is(err, errors.ErrUnsupported) {
		return // a store that wraps one without Registry
	}
	if c.ok(err, `Records("c") of a new store`) && len(recs) != 0 {
		c.errorf(`Records("c") of a new store returned %d records; want none`, len(recs))
	}
	if _, found, err := reg.Record(ctx, "c", "a"); c.ok(err, `Record("c", "a") never written`) && found {
		c.errorf(`Record("c", "a") never written: found; want absent`)
	}

	value := []byte("v1")
	rev1, err := reg.PutRecord(ctx, "c", "a", "", value)
	if errors.Is(err, errors.ErrUnsupported) {
		return // a backend that supports Registry only with a newer server
	}
	if !c.ok(err, `PutRecord("c", "a", prev "") of an absent record`) {
		return
	}
	if rev1 == "" {
		c.errorf(`PutRecord("c", "a") returned the revision ""; want a non-empty revision`)
	}
	value[0] = 'X' // the store must have copied it
	c.record(ctx, reg, "c", "a", rev1, "v1", "after the first PutRecord (and after the caller changed its value)")

	if _, err := reg.PutRecord(ctx, "c", "a", "", []byte("other")); !errors.Is(err, offsetstore.ErrConflict) {
		c.errorf(`PutRecord("c", "a", prev "") of a stored record = %v; want ErrConflict`, err)
	} else {
		c.errorType(err, "PutRecord", "c/a")
	}
	if _, err := reg.PutRecord(ctx, "c", "a", rev1+"x", []byte("other")); !errors.Is(err, offsetstore.ErrConflict) {
		c.errorf(`PutRecord("c", "a") with a revision the record never had = %v; want ErrConflict`, err)
	}
	c.record(ctx, reg, "c", "a", rev1, "v1", "after PutRecord calls that must fail")

	rev2, err := reg.PutRecord(ctx, "c", "a", rev1, []byte("v1"))
	if !c.ok(err, `PutRecord("c", "a") of the same value at its revision`) {
		return
	}
	if rev2 == rev1 || rev2 == "" {
		c.errorf(`PutRecord("c", "a") of the same value returned revision %q after %q; want a new revision`, rev2, rev1)
	}
	if _, err := reg.PutRecord(ctx, "c", "a", rev1, []byte("stale")); !errors.Is(err, offsetstore.ErrConflict) {
		c.errorf(`PutRecord("c", "a") at its previous revision = %v; want ErrConflict`, err)
	}
	c.record(ctx, reg, "c", "a", rev2, "v1", "after a rewrite and a stale PutRecord")

	if _, err := reg.PutRecord(ctx, "c", "b", "", nil); !c.ok(err, `PutRecord("c", "b") of an empty value`) {
		return
	}
	if _, err := reg.PutRecord(ctx, "d", "a", "", []byte("in d")); !c.ok(err, `PutRecord("d", "a")`) {
		return
	}
	if recs, err := reg.Records(ctx, "c"); c.ok(err, `Records("c")`) {
		var names []string
		for _, r := range recs {
			names = append(names, r.Name)
			switch r.Name {
			case "a":
				if r.Rev != rev2 || string(r.Value) != "v1" {
					c.errorf(`Records("c"): record "a" is {Rev %q, Value %q}; want {Rev %q, Value "v1"}`, r.Rev, r.Value, rev2)
				}
				r.Value[0] = 'Z' // the store must have copied it
			case "b":
				if len(r.Value) != 0 {
					c.errorf(`Records("c"): record "b" has value %q; want empty`, r.Value)
				}
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"a", "b"}) {
			c.errorf(`Records("c") lists %q; want ["a" "b"] (each once, and no record of collection "d")`, names)
		}
	}
	c.record(ctx, reg, "c", "a", rev2, "v1", "after the caller changed a value Records returned")
	c.record(ctx, reg, "d", "a", "", "in d", "in another collection")
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups(`ListGroups of a store holding records and no offsets`, gs, nil, nil)
	}

	if err := reg.DeleteRecord(ctx, "c", "a", rev1); !errors.Is(err, offsetstore.ErrConflict) {
		c.errorf(`DeleteRecord("c", "a") at a stale revision = %v; want ErrConflict`, err)
	}
	if c.ok(reg.DeleteRecord(ctx, "c", "a", rev2), `DeleteRecord("c", "a") at its revision`) {
		if _, found, err := reg.Record(ctx, "c", "a"); c.ok(err, `Record("c", "a") after DeleteRecord`) && found {
			c.errorf(`Record("c", "a") after DeleteRecord: found; want absent`)
		}
		if err := reg.DeleteRecord(ctx, "c", "a", rev2); !errors.Is(err, offsetstore.ErrConflict) {
			c.errorf(`DeleteRecord("c", "a") of a deleted record = %v; want ErrConflict`, err)
		}
		if rev3, err := reg.PutRecord(ctx, "c", "a", "", []byte("v1")); c.ok(err, `PutRecord("c", "a", prev "") after DeleteRecord`) &&
			(rev3 == rev1 || rev3 == rev2) {
			c.errorf(`PutRecord("c", "a") after DeleteRecord returned revision %q, which the record had before; want a new one`, rev3)
		}
	}

	for _, name := range []string{"", ".", "..", "a/b", "é", "a b", strings.Repeat("n", 129)} {
		if _, err := reg.PutRecord(ctx, "c", name, "", []byte("x")); !errors.Is(err, offsetstore.ErrInvalid) {
			c.errorf(`PutRecord of record name %s = %v; want ErrInvalid`, quote(name), err)
		}
		if _, err := reg.Records(ctx, name); !errors.Is(err, offsetstore.ErrInvalid) {
			c.errorf(`Records of collection name %s = %v; want ErrInvalid`, quote(name), err)
		}
	}
	if _, err := reg.PutRecord(ctx, "c", "big", "", make([]byte, offsetstore.MaxRecordBytes+1)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`PutRecord of %d bytes = %v; want ErrInvalid`, offsetstore.MaxRecordBytes+1, err)
	}

	checkRegistryRace(ctx, c, reg)

	checkDoneAndClosed(ctx, c, s, "PutRecord", func(ctx context.Context) error {
		_, err := reg.PutRecord(ctx, "c", "new", "", []byte("x"))
		return err
	}, func() bool {
		_, found, err := reg.Record(ctx, "c", "new")
		return err == nil && !found
	})
}

// checkRegistryRace has writers increment one counter record with compare-and-set: with every
// write conditional, no increment is lost.
func checkRegistryRace(ctx context.Context, c *checker, reg offsetstore.Registry) {
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				rec, found, err := reg.Record(ctx, "race", "counter")
				if err != nil {
					errs[w] = err
					return
				}
				n := 0
				if found {
					if n, err = strconv.Atoi(string(rec.Value)); err != nil {
						errs[w] = err
						return
					}
				}
				_, err = reg.PutRecord(ctx, "race", "counter", rec.Rev, []byte(strconv.Itoa(n+1)))
				switch {
				case err == nil:
					done++
				case !errors.Is(err, offsetstore.ErrConflict):
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.errorf(`compare-and-set increments of record "race/counter": %v`, err)
		return
	}
	rec, _, err := reg.Record(ctx, "race", "counter")
	if c.ok(err, `Record("race", "counter")`) && string(rec.Value) != strconv.Itoa(writers*each) {
		c.errorf(`%d writers made %d compare-and-set increments each of record "race/counter", which holds %q; want %d: a conditional write was applied over a newer one`,
			writers, each, rec.Value, writers*each)
	}
}

// record checks that the stored record is (rev, value); rev "" checks the value only.
func (c *checker) record(ctx context.Context, reg offsetstore.Registry, collection, name, rev, value, when string) {
	rec, found, err := reg.Record(ctx, collection, name)
	if !c.ok(err, "Record(%q, %q) %s", collection, name, when) {
		return
	}
	switch {
	case !found:
		c.errorf("Record(%q, %q) %s: absent; want value %q", collection, name, when, value)
	case rec.Name != name:
		c.errorf("Record(%q, %q) %s: Name %q", collection, name, when, rec.Name)
	case rev != "" && rec.Rev != rev:
		c.errorf("Record(%q, %q) %s: revision %q; want %q", collection, name, when, rec.Rev, rev)
	case string(rec.Value) != value:
		c.errorf("Record(%q, %q) %s: value %q; want %q", collection, name, when, rec.Value, value)
	}
}

// errorType checks that err is an *offsetstore.Error naming op and key.
func (c *checker) errorType(err error, op, key string) {
	var e *offsetstore.Error
	if !errors.As(err, &e) {
		c.errorf("%s error %v is a %T; want an *offsetstore.Error", op, err, err)
		return
	}
	if e.Op != op || e.Group != key {
		c.errorf("%s error names Op %q and Group %q; want %q and %q", op, e.Op, e.Group, op, key)
	}
}
