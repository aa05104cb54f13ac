package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// pendingChecker is what checkPendingCommitter needs of a store and its PendingCommitter.
type pendingChecker struct {
	c  *checker
	s  offsetstore.Store
	pc offsetstore.PendingCommitter
}

func txn(pid int64, epoch int16) offsetstore.PendingTxn {
	return offsetstore.PendingTxn{TransactionalID: fmt.Sprintf("txn-%d", pid), ProducerID: pid, ProducerEpoch: epoch}
}

func (p pendingChecker) stage(ctx context.Context, group string, t offsetstore.PendingTxn, m offsets) bool {
	return p.c.ok(p.pc.StagePending(ctx, group, t, m), "StagePending(group %s, producer %d, %d offsets)", quote(group), t.ProducerID, len(m))
}

func (p pendingChecker) complete(ctx context.Context, group string, pid int64, commit bool) bool {
	return p.c.ok(p.pc.CompletePending(ctx, group, pid, commit), "CompletePending(group %s, producer %d, commit %v)", quote(group), pid, commit)
}

// fetched reports a difference between what FetchAll of group returns and want.
func (p pendingChecker) fetched(ctx context.Context, what, group string, want offsets) {
	if m, ok := p.c.fetchAll(ctx, p.s, group); ok {
		p.c.same(fmt.Sprintf("FetchAll(group %s) %s", quote(group), what), m, want)
	}
}

// pendingIs reports a difference between PendingPartitions of group and want.
func (p pendingChecker) pendingIs(ctx context.Context, what, group string, want ...tp) {
	got, err := p.pc.PendingPartitions(ctx, group)
	if !p.c.ok(err, "PendingPartitions(group %s)", quote(group)) {
		return
	}
	if got == nil {
		p.c.errorf("PendingPartitions(group %s) %s returned nil; want a non-nil slice", quote(group), what)
	}
	sort := func(s []tp) []tp {
		s = slices.Clone(s)
		slices.SortFunc(s, offsetstore.Compare)
		return s
	}
	if g, w := sort(got), sort(want); !slices.Equal(g, w) {
		p.c.errorf("PendingPartitions(group %s) %s = %v; want %v", quote(group), what, g, w)
	}
}

// listed reports whether ListPending returns (group, t) with t's epoch.
func (p pendingChecker) listed(ctx context.Context, group string, t offsetstore.PendingTxn) (bool, bool) {
	all, err := p.pc.ListPending(ctx)
	if !p.c.ok(err, "ListPending") {
		return false, false
	}
	return slices.Contains(all, offsetstore.PendingGroup{Group: group, Txn: t}), true
}

func checkPendingCommitter(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	pc, ok := s.(offsetstore.PendingCommitter)
	if !ok {
		return
	}
	p := pendingChecker{c: c, s: s, pc: pc}
	if !p.checkVisibility(ctx) {
		return
	}
	p.checkOrder(ctx)
	p.checkDeletes(ctx)
	if err := pc.StagePending(ctx, "txn-group", txn(8, 0), offsets{part("t", -1): {}}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf("StagePending of a negative partition = %v; want ErrInvalid", err)
	}
	p.pendingIs(ctx, "after a refused StagePending", "txn-group")
	checkStagePendingFenced(ctx, c, s, pc)

	checkDoneAndClosed(ctx, c, s, "StagePending", func(ctx context.Context) error {
		return pc.StagePending(ctx, "h", txn(9, 0), offsets{part("t", 0): {Offset: 1}})
	}, func() bool {
		got, err := pc.PendingPartitions(ctx, "h")
		return err == nil && len(got) == 0
	})
	if h.Durable() {
		checkPendingDurable(ctx, c, h)
	}
}

// checkVisibility checks that staged offsets are invisible (to Fetch, FetchAll and expiry)
// until their transaction commits, then committed, that they are listed while pending, that
// completing twice is harmless, and that an aborted transaction leaves nothing. It reports
// whether the store supports pending offsets at all.
func (p pendingChecker) checkVisibility(ctx context.Context) bool {
	c, s, pc := p.c, p.s, p.pc
	const g = "txn-group"
	committed := offsets{part("t", 0): {Offset: 1, LeaderEpoch: -1, Metadata: "plain", CommitTime: ms(0)}}
	if !c.commit(ctx, s, g, committed) {
		return false
	}
	staged := offsets{
		part("t", 0): {Offset: 10, LeaderEpoch: 3, Metadata: "txn", CommitTime: ms(10)},
		part("u", 1): {Offset: 11, LeaderEpoch: -1, CommitTime: ms(10)},
	}
	err := pc.StagePending(ctx, g, txn(1, 0), staged)
	if errors.Is(err, errors.ErrUnsupported) || !c.ok(err, "StagePending(group %s, producer 1)", quote(g)) {
		return false
	}
	if !p.stage(ctx, g, txn(1, 1), offsets{part("u", 2): {Offset: 12, LeaderEpoch: -1, CommitTime: ms(11)}}) {
		return false
	}
	staged[part("u", 2)] = offsetstore.Offset{Offset: 12, LeaderEpoch: -1, CommitTime: ms(11)}
	p.fetched(ctx, "with pending offsets", g, committed)
	if m, ok := c.fetch(ctx, s, g, []tp{part("t", 0), part("u", 1)}); ok {
		c.same(fmt.Sprintf("Fetch(group %s) of partitions with pending offsets", quote(g)), m, committed)
	}
	p.pendingIs(ctx, "after staging", g, part("t", 0), part("u", 1), part("u", 2))
	p.pendingIs(ctx, "of a group never used", "never-used")
	if in, ok := p.listed(ctx, g, txn(1, 1)); ok && !in {
		c.errorf("ListPending after StagePending does not list group %s with the transaction of the last StagePending %+v", quote(g), txn(1, 1))
	}
	p.checkUnexpired(ctx, g, committed)
	if !p.complete(ctx, g, 1, true) {
		return false
	}
	p.fetched(ctx, "after the transaction committed", g, staged)
	p.pendingIs(ctx, "after the transaction committed", g)
	if in, ok := p.listed(ctx, g, txn(1, 1)); ok && in {
		c.errorf("ListPending still lists a committed transaction")
	}
	p.complete(ctx, g, 1, true) // a marker sent twice
	p.complete(ctx, g, 99, false)
	p.fetched(ctx, "after completing transactions with nothing pending", g, staged)

	p.stage(ctx, g, txn(2, 0), offsets{part("t", 0): {Offset: 20, LeaderEpoch: -1, CommitTime: ms(20)}, part("v", 0): {Offset: 20}})
	p.complete(ctx, g, 2, false)
	p.fetched(ctx, "after an aborted transaction", g, staged)
	p.pendingIs(ctx, "after an aborted transaction", g)
	return true
}

// checkUnexpired checks that ExpireOffsets, when the store has it, never shows its predicate
// (or deletes) a partition with a pending offset; committed is what g holds, t/0 pending.
func (p pendingChecker) checkUnexpired(ctx context.Context, g string, committed offsets) {
	e, ok := p.s.(offsetstore.Expirer)
	if !ok {
		return
	}
	_, err := e.ExpireOffsets(ctx, g, func(k tp, _ offsetstore.Offset) bool {
		if k == part("t", 0) {
			p.c.errorf("ExpireOffsets showed its predicate partition t/0, which has a pending offset")
		}
		return true
	})
	if !errors.Is(err, errors.ErrUnsupported) && p.c.ok(err, "ExpireOffsets(group %s)", quote(g)) {
		p.fetched(ctx, "after ExpireOffsets of everything but partitions with pending offsets", g, committed)
	}
}

// checkOrder checks that the later write wins: a plain commit made after staging over the
// transaction, the transaction over one made before, and of two transactions staging one
// partition the one that staged later, whichever commits first.
func (p pendingChecker) checkOrder(ctx context.Context) {
	c, s := p.c, p.s
	const g = "txn-group"
	before := offsetstore.Offset{Offset: 30, LeaderEpoch: -1, Metadata: "before", CommitTime: ms(30)}
	pending := offsetstore.Offset{Offset: 31, LeaderEpoch: -1, Metadata: "txn", CommitTime: ms(31)}
	after := offsetstore.Offset{Offset: 32, LeaderEpoch: -1, Metadata: "after", CommitTime: ms(32)}
	c.commit(ctx, s, g, offsets{part("w", 0): before, part("w", 1): before})
	p.stage(ctx, g, txn(3, 0), offsets{part("w", 0): pending, part("w", 1): pending})
	c.commit(ctx, s, g, offsets{part("w", 1): after})
	p.complete(ctx, g, 3, true)
	if m, ok := c.fetch(ctx, s, g, []tp{part("w", 0), part("w", 1)}); ok {
		c.same("Fetch after a transaction committed over a plain commit made before it staged (w/0) and one made after (w/1)", m,
			offsets{part("w", 0): pending, part("w", 1): after})
	}

	first := offsetstore.Offset{Offset: 40, LeaderEpoch: -1, Metadata: "first", CommitTime: ms(40)}
	second := offsetstore.Offset{Offset: 41, LeaderEpoch: -1, Metadata: "second", CommitTime: ms(41)}
	p.stage(ctx, g, txn(4, 0), offsets{part("x", 0): first, part("x", 1): first})
	p.stage(ctx, g, txn(5, 0), offsets{part("x", 0): second, part("x", 1): second})
	p.pendingIs(ctx, "with two transactions staging the same partitions", g, part("x", 0), part("x", 1))
	p.complete(ctx, g, 5, true)
	p.complete(ctx, g, 4, true)
	if m, ok := c.fetch(ctx, s, g, []tp{part("x", 0)}); ok {
		c.same("Fetch after two transactions committed, the later-staged first", m, offsets{part("x", 0): second})
	}
}

// checkDeletes checks that Delete and DeleteGroup drop the pending offsets of what they
// delete, so that a transaction committed afterwards does not bring them back.
func (p pendingChecker) checkDeletes(ctx context.Context) {
	c, s := p.c, p.s
	const g = "txn-group"
	p.stage(ctx, g, txn(6, 0), offsets{part("y", 0): {Offset: 60}, part("y", 1): {Offset: 61}})
	c.ok(s.Delete(ctx, g, []tp{part("y", 0)}), "Delete(group %s, y/0)", quote(g))
	p.pendingIs(ctx, "after Delete of one of two pending partitions", g, part("y", 1))
	p.complete(ctx, g, 6, true)
	if m, ok := c.fetch(ctx, s, g, []tp{part("y", 0), part("y", 1)}); ok {
		c.same("Fetch after Delete of a pending partition and its transaction's commit", m, offsets{part("y", 1): {Offset: 61}})
	}
	const g2 = "txn-deleted"
	c.commit(ctx, s, g2, offsets{part("t", 0): {Offset: 1}})
	p.stage(ctx, g2, txn(7, 0), offsets{part("t", 1): {Offset: 70}})
	c.ok(s.DeleteGroup(ctx, g2), "DeleteGroup(group %s)", quote(g2))
	p.pendingIs(ctx, "after DeleteGroup", g2)
	p.complete(ctx, g2, 7, true)
	p.fetched(ctx, "after DeleteGroup and the commit of a transaction staged before it", g2, nil)
}

// checkStagePendingFenced checks StagePendingFenced against the store's fence, or that it is
// unsupported by a store without fences.
func checkStagePendingFenced(ctx context.Context, c *checker, s offsetstore.Store, pc offsetstore.PendingCommitter) {
	const g = "txn-fenced"
	f, ok := s.(offsetstore.Fencer)
	if !ok {
		if err := pc.StagePendingFenced(ctx, g, 0, txn(10, 0), offsets{part("t", 0): {Offset: 1}}); !errors.Is(err, errors.ErrUnsupported) {
			c.errorf("StagePendingFenced on a store that is not a Fencer = %v; want errors.ErrUnsupported", err)
		}
		return
	}
	err := pc.StagePendingFenced(ctx, g, 0, txn(10, 0), offsets{part("t", 0): {Offset: 1}})
	if errors.Is(err, errors.ErrUnsupported) { // a Fencer whose backend cannot fence now
		return
	}
	if !c.ok(err, "StagePendingFenced(group %s) at the group's fence", quote(g)) {
		return
	}
	if _, err := offsetstore.AdvanceFence(ctx, f, g); !c.ok(err, "AdvanceFence(group %s)", quote(g)) {
		return
	}
	if err := pc.StagePendingFenced(ctx, g, 0, txn(11, 0), offsets{part("t", 1): {Offset: 1}}); !errors.Is(err, offsetstore.ErrFenced) {
		c.errorf("StagePendingFenced with a fence the group moved past = %v; want ErrFenced", err)
	}
	got, err := pc.PendingPartitions(ctx, g)
	if c.ok(err, "PendingPartitions(group %s)", quote(g)) && !slices.Equal(got, []tp{part("t", 0)}) {
		c.errorf("PendingPartitions after a fenced StagePendingFenced = %v; want only t/0", got)
	}
	c.ok(pc.CompletePending(ctx, g, 10, false), "CompletePending(group %s)", quote(g))
}

// checkPendingDurable checks that pending offsets survive Close and a new Open, and commit
// afterwards.
func checkPendingDurable(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	pc := s.(offsetstore.PendingCommitter)
	const g = "txn-durable"
	want := offsets{part("t", 0): {Offset: 5, LeaderEpoch: 2, Metadata: "across a restart", CommitTime: ms(50)}}
	if !c.ok(pc.StagePending(ctx, g, txn(12, 3), want), "StagePending(group %s)", quote(g)) {
		return
	}
	if !c.ok(s.Close(), "Close") {
		return
	}
	s, ok = c.open(ctx, h)
	if !ok {
		return
	}
	pc, ok = s.(offsetstore.PendingCommitter)
	if !ok {
		c.errorf("a reopened store is no longer a PendingCommitter")
		return
	}
	p := pendingChecker{c: c, s: s, pc: pc}
	if in, ok := p.listed(ctx, g, txn(12, 3)); ok && !in {
		c.errorf("ListPending after Close and a new Open does not list the transaction staged before")
	}
	p.fetched(ctx, "after a reopen, before the transaction commits", g, nil)
	p.complete(ctx, g, 12, true)
	p.fetched(ctx, "after a reopen and the transaction's commit", g, want)
}
