package storetest

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// The rules below check the optional capabilities of package offsetstore. A store that does
// not implement a capability passes its rule trivially; a method that reports
// errors.ErrUnsupported counts as not implemented.

func checkExpirer(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	ex, ok := s.(offsetstore.Expirer)
	if !ok {
		return
	}
	all := func(tp, offsetstore.Offset) bool { return true }
	got, err := ex.ExpireOffsets(ctx, "never-used", all)
	if errors.Is(err, errors.ErrUnsupported) {
		return
	}
	if c.ok(err, `ExpireOffsets(group "never-used")`) && len(got) != 0 {
		c.errorf(`ExpireOffsets(group "never-used") returned %d offsets; want none`, len(got))
	}
	stored := offsets{
		part("t", 0): {Offset: 1, LeaderEpoch: -1, Metadata: "old", CommitTime: ms(0)},
		part("t", 1): {Offset: 2, LeaderEpoch: 3, Metadata: "new", CommitTime: ms(5)},
		part("u", 0): {Offset: 3, LeaderEpoch: -1, Metadata: "old", CommitTime: ms(1), ExpireTime: ms(9)},
	}
	if !c.commit(ctx, s, "g", stored) || !c.commit(ctx, s, "other", stored) {
		return
	}
	seen := offsets{}
	got, err = ex.ExpireOffsets(ctx, "g", func(p tp, o offsetstore.Offset) bool {
		seen[p] = o
		return o.Metadata == "old"
	})
	if !c.ok(err, `ExpireOffsets(group "g")`) {
		return
	}
	c.same(`the offsets ExpireOffsets(group "g") showed its predicate`, seen, stored)
	want := offsets{part("t", 0): stored[part("t", 0)], part("u", 0): stored[part("u", 0)]}
	c.same(`the offsets ExpireOffsets(group "g") returned`, got, want)
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after ExpireOffsets`, m, offsets{part("t", 1): stored[part("t", 1)]})
	}
	if m, ok := c.fetchAll(ctx, s, "other"); ok {
		c.same(`FetchAll(group "other") after ExpireOffsets of group "g"`, m, stored)
	}
	if _, err := ex.ExpireOffsets(ctx, "g", all); c.ok(err, `ExpireOffsets(group "g") of every offset`) {
		if gs, ok := c.listGroups(ctx, s); ok {
			c.sameGroups(`ListGroups after every offset of "g" expired`, gs, []string{"other"}, []string{"g"})
		}
	}
	// Commits racing with expiry: an offset committed after the predicate saw the old value
	// must survive. Writers commit fresh values ("new") while passes expire only "old" ones.
	base := offsets{}
	for p := int32(0); p < 32; p++ {
		base[part("race", p)] = offsetstore.Offset{Offset: 0, LeaderEpoch: -1, Metadata: "old"}
	}
	if !c.commit(ctx, s, "race", base) {
		return
	}
	var wg sync.WaitGroup
	last := make([]int64, 32)
	errs := make([]error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 1; i <= 8; i++ {
				for p := w; p < 32; p += 4 {
					err := s.Commit(ctx, "race", offsets{part("race", int32(p)): {Offset: int64(i), LeaderEpoch: -1, Metadata: "new"}})
					if err != nil {
						errs[w] = err
						return
					}
					last[p] = int64(i)
				}
			}
		}(w)
	}
	for i := 0; i < 8; i++ {
		if _, err := ex.ExpireOffsets(ctx, "race", func(_ tp, o offsetstore.Offset) bool { return o.Metadata == "old" }); err != nil {
			c.errorf(`ExpireOffsets(group "race") during commits: %v`, err)
			break
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.errorf(`Commit during ExpireOffsets: %v`, err)
		return
	}
	if m, ok := c.fetchAll(ctx, s, "race"); ok {
		for p, want := range last {
			if got, ok := m[part("race", int32(p))]; !ok || got.Metadata != "new" || got.Offset != want {
				c.errorf(`partition race/%d after commits raced with ExpireOffsets: have %+v (present %v), want offset %d: expiry deleted or overwrote a newer commit`, p, got, ok, want)
			}
		}
	}
	checkDoneAndClosed(ctx, c, s, "ExpireOffsets", func(ctx context.Context) error {
		_, err := ex.ExpireOffsets(ctx, "other", all)
		return err
	}, func() bool {
		m, ok := c.fetchAll(ctx, s, "other")
		return ok && len(m) == len(stored)
	})
}

func checkInserter(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	in, ok := s.(offsetstore.Inserter)
	if !ok {
		return
	}
	first := offsets{part("t", 0): {Offset: 1, LeaderEpoch: -1, Metadata: "first", CommitTime: ms(0)}}
	err := in.CommitIfAbsent(ctx, "g", first)
	if errors.Is(err, errors.ErrUnsupported) {
		return
	}
	if !c.ok(err, `CommitIfAbsent(group "g") of an absent partition`) {
		return
	}
	second := offsets{
		part("t", 0): {Offset: 9, LeaderEpoch: 9, Metadata: "second", CommitTime: ms(9)},
		part("t", 1): {Offset: 2, LeaderEpoch: 4, Metadata: "second", CommitTime: ms(2)},
	}
	if !c.ok(in.CommitIfAbsent(ctx, "g", second), `CommitIfAbsent(group "g") of one stored and one absent partition`) {
		return
	}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after CommitIfAbsent`, m, offsets{part("t", 0): first[part("t", 0)], part("t", 1): second[part("t", 1)]})
	}
	if err := in.CommitIfAbsent(ctx, "g", offsets{part("t", -1): {}}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`CommitIfAbsent of a negative partition = %v; want ErrInvalid`, err)
	}
	checkDoneAndClosed(ctx, c, s, "CommitIfAbsent", func(ctx context.Context) error {
		return in.CommitIfAbsent(ctx, "h", offsets{part("t", 0): {Offset: 1}})
	}, func() bool {
		m, ok := c.fetchAll(ctx, s, "h")
		return ok && len(m) == 0
	})
}

// checkDoneAndClosed checks that call fails with the context's error on a done context
// without changing anything (unchanged reports that), and with ErrClosed after Close.
func checkDoneAndClosed(ctx context.Context, c *checker, s offsetstore.Store, op string, call func(context.Context) error, unchanged func() bool) {
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := call(done); !errors.Is(err, context.Canceled) {
		c.errorf("%s with a cancelled context = %v; want an error matching context.Canceled", op, err)
	} else if !unchanged() {
		c.errorf("%s with a cancelled context changed what is stored", op)
	}
	if err := s.Close(); err != nil {
		c.errorf("Close: %v", err)
	}
	if err := call(ctx); !errors.Is(err, offsetstore.ErrClosed) {
		c.errorf("%s after Close = %v; want an error matching ErrClosed", op, err)
	}
}

func checkFetchIntoer(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	fi, ok := s.(offsetstore.FetchIntoer)
	if !ok {
		return
	}
	// Slices one longer than the request, prefilled with values no store holds: FetchInto
	// must overwrite every answered element and leave the last alone.
	garbage := offsetstore.Offset{Offset: 999, LeaderEpoch: 99, Metadata: "garbage", CommitTime: ms(999)}
	fill := func(n int) ([]offsetstore.Offset, []bool) {
		dst, found := make([]offsetstore.Offset, n+1), make([]bool, n+1)
		for i := range dst {
			dst[i], found[i] = garbage, true
		}
		return dst, found
	}
	// compare checks dst and found against what Fetch says of the same partitions.
	compare := func(what string, want offsets, req []tp, dst []offsetstore.Offset, found []bool) {
		for i, p := range req {
			w, ok := want[p]
			switch {
			case found[i] != ok:
				c.errorf("%s: index %d (%s): found = %v; Fetch says present = %v", what, i, tpString(p), found[i], ok)
			case ok:
				if d := diff(dst[i], offsetstore.Normalize(w)); d != "" {
					c.errorf("%s: index %d (%s): %s", what, i, tpString(p), d)
				}
			case dst[i] != (offsetstore.Offset{}):
				c.errorf("%s: index %d (%s) is absent but dst holds %s; want the zero Offset", what, i, tpString(p), describe(dst[i]))
			}
		}
		if n := len(req); dst[n] != garbage || !found[n] {
			c.errorf("%s: FetchInto changed the element after the last partition (index %d)", what, n)
		}
	}

	probe := []tp{part("t", 0)}
	dst, found := fill(1)
	err := fi.FetchInto(ctx, "never-used", probe, dst, found)
	if errors.Is(err, errors.ErrUnsupported) {
		return
	}
	if c.ok(err, `FetchInto(group "never-used")`) {
		compare(`FetchInto(group "never-used")`, offsets{}, probe, dst, found)
	}

	stored := offsets{
		part("t", 0): {Offset: 1, LeaderEpoch: -1, Metadata: "", CommitTime: ms(1)},
		part("t", 1): {Offset: math.MaxInt64, LeaderEpoch: 7, Metadata: "métadonnées", CommitTime: ms(2), ExpireTime: ms(3)},
		part("u", 0): {Offset: -5, LeaderEpoch: 0, Metadata: strings.Repeat("m", 4096)},
	}
	if !c.commit(ctx, s, "g", stored) || !c.commit(ctx, s, "other", offsets{part("t", 5): {Offset: 5, LeaderEpoch: -1}}) {
		return
	}
	req := []tp{part("t", 0), part("t", 5), part("u", 0), part("t", 0), part("t", 1), part("", 0)}
	want, ok := c.fetch(ctx, s, "g", req)
	if !ok {
		return
	}
	c.same(`Fetch(group "g") before FetchInto`, want, stored)
	dst, found = fill(len(req))
	if !c.ok(fi.FetchInto(ctx, "g", req, dst, found), `FetchInto(group "g", %d partitions)`, len(req)) {
		return
	}
	compare(`FetchInto(group "g")`, want, req, dst, found)

	// Neither slice is kept: a later commit does not show up in dst, and changing dst does not
	// change the store.
	before := dst[0]
	if !c.commit(ctx, s, "g", offsets{part("t", 0): {Offset: 2, LeaderEpoch: -1, Metadata: "later"}}) {
		return
	}
	if dst[0] != before {
		c.errorf(`a Commit after FetchInto(group "g") changed the caller's dst: %s became %s (the store kept dst)`, describe(before), describe(dst[0]))
	}
	dst[4].Metadata, dst[4].Offset = "changed", 0
	if again, ok := c.fetch(ctx, s, "g", []tp{part("t", 1)}); ok {
		c.same(`Fetch(group "g") after the caller changed FetchInto's dst`, again, offsets{part("t", 1): stored[part("t", 1)]})
	}

	if err := fi.FetchInto(ctx, "g", []tp{part("t", 0), part("t", -1)}, make([]offsetstore.Offset, 2), make([]bool, 2)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`FetchInto of a negative partition = %v; want ErrInvalid`, err)
	}
	if err := fi.FetchInto(ctx, "g", req, make([]offsetstore.Offset, len(req)-1), make([]bool, len(req))); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`FetchInto of %d partitions into %d offsets = %v; want ErrInvalid`, len(req), len(req)-1, err)
	}
	if err := fi.FetchInto(ctx, "g", req, make([]offsetstore.Offset, len(req)), make([]bool, 1)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`FetchInto of %d partitions into 1 found flag = %v; want ErrInvalid`, len(req), err)
	}
	checkDoneAndClosed(ctx, c, s, "FetchInto", func(ctx context.Context) error {
		return fi.FetchInto(ctx, "g", probe, make([]offsetstore.Offset, 1), make([]bool, 1))
	}, func() bool { return true })
}

func checkSliceCommitter(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	sc, ok := s.(offsetstore.SliceCommitter)
	if !ok {
		return
	}
	err := sc.CommitSlice(ctx, "g", nil, nil)
	if errors.Is(err, errors.ErrUnsupported) {
		return
	}
	if !c.ok(err, `CommitSlice(group "g") of nothing`) {
		return
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups(`ListGroups after CommitSlice of nothing`, gs, nil, nil)
	}
	tps := []tp{part("t", 0), part("t", 1), part("u", 0), part("t", 0), part("", 7)}
	offs := []offsetstore.Offset{
		{Offset: 1, LeaderEpoch: -1, Metadata: "first", CommitTime: ms(1)},
		{Offset: math.MaxInt64, LeaderEpoch: 7, Metadata: "métadonnées", CommitTime: ms(2), ExpireTime: ms(3)},
		{Offset: -5, LeaderEpoch: 0, Metadata: strings.Repeat("m", 4096)},
		{Offset: 2, LeaderEpoch: 3, Metadata: "second", CommitTime: base.Add(1500 * time.Microsecond)},
		{Offset: 0, LeaderEpoch: -1},
	}
	want := offsets{}
	for i, p := range tps {
		want[p] = offs[i]
	}
	if !c.ok(sc.CommitSlice(ctx, "g", tps, offs), `CommitSlice(group "g", %d partitions)`, len(tps)) {
		return
	}
	// Neither slice is kept: changing them afterwards changes nothing stored.
	tps[1], offs[2] = part("t", 99), offsetstore.Offset{Offset: 12345, Metadata: "changed"}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after CommitSlice, and after the caller changed its slices`, m, want)
	}

	if err := sc.CommitSlice(ctx, "g", []tp{part("t", 5), part("t", -1)}, make([]offsetstore.Offset, 2)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`CommitSlice of a negative partition = %v; want ErrInvalid`, err)
	}
	if err := sc.CommitSlice(ctx, "g", []tp{part("t", 6), part("t", 7)}, make([]offsetstore.Offset, 1)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`CommitSlice of 2 partitions with 1 offset = %v; want ErrInvalid`, err)
	}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after CommitSlice calls that must fail`, m, want)
	}
	checkDoneAndClosed(ctx, c, s, "CommitSlice", func(ctx context.Context) error {
		return sc.CommitSlice(ctx, "h", []tp{part("t", 0)}, []offsetstore.Offset{{Offset: 1}})
	}, func() bool {
		m, ok := c.fetchAll(ctx, s, "h")
		return ok && len(m) == 0
	})
}
