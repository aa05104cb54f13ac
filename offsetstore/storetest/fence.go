package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// The rules below check offsetstore.Fencer. A store that does not implement it, or whose
// GroupState of a group never used reports errors.ErrUnsupported, passes them trivially.

// openFencer opens a store of h and returns it with its Fencer when it implements the
// capability and supports it.
func (c *checker) openFencer(ctx context.Context, h Harness) (offsetstore.Store, offsetstore.Fencer, bool) {
	s, ok := c.open(ctx, h)
	if !ok {
		return nil, nil, false
	}
	f, ok := s.(offsetstore.Fencer)
	if !ok {
		return nil, nil, false
	}
	st, err := f.GroupState(ctx, "never-used")
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, nil, false
	}
	if !c.ok(err, `GroupState(group "never-used")`) {
		return nil, nil, false
	}
	c.sameState(`GroupState(group "never-used") of a new store`, st, offsetstore.GroupState{})
	return s, f, true
}

// stateString describes a GroupState for a message.
func stateString(st offsetstore.GroupState) string {
	sub := "nil"
	if st.Subscribed != nil {
		sub = fmt.Sprintf("%q", st.Subscribed)
	}
	return fmt.Sprintf("{Fence %d, ProtocolType %s, Protocol %s, Generation %d, Empty %v, StateTime %s, Subscribed %s}",
		st.Fence, quote(st.ProtocolType), quote(st.Protocol), st.Generation, st.Empty, timeString(st.StateTime), sub)
}

// stateDiff describes how got differs from want (compared after normalising want), or "".
func stateDiff(got, want offsetstore.GroupState) string {
	want = want.Clone()
	var d []string
	if got.Fence != want.Fence {
		d = append(d, fmt.Sprintf("Fence = %d, want %d", got.Fence, want.Fence))
	}
	if got.ProtocolType != want.ProtocolType {
		d = append(d, fmt.Sprintf("ProtocolType = %s, want %s", quote(got.ProtocolType), quote(want.ProtocolType)))
	}
	if got.Protocol != want.Protocol {
		d = append(d, fmt.Sprintf("Protocol = %s, want %s", quote(got.Protocol), quote(want.Protocol)))
	}
	if got.Generation != want.Generation {
		d = append(d, fmt.Sprintf("Generation = %d, want %d", got.Generation, want.Generation))
	}
	if got.Empty != want.Empty {
		d = append(d, fmt.Sprintf("Empty = %v, want %v", got.Empty, want.Empty))
	}
	if !got.StateTime.Equal(want.StateTime) || got.StateTime.IsZero() != want.StateTime.IsZero() {
		d = append(d, fmt.Sprintf("StateTime = %s, want %s", timeString(got.StateTime), timeString(want.StateTime)))
	}
	if !slices.Equal(got.Subscribed, want.Subscribed) || (got.Subscribed == nil) != (want.Subscribed == nil) {
		g, w := offsetstore.GroupState{Subscribed: got.Subscribed}, offsetstore.GroupState{Subscribed: want.Subscribed}
		d = append(d, fmt.Sprintf("Subscribed = %s, want %s", subString(g), subString(w)))
	}
	return strings.Join(d, "; ")
}

func subString(st offsetstore.GroupState) string {
	if st.Subscribed == nil {
		return "nil"
	}
	return fmt.Sprintf("%q (non-nil, %d topics)", st.Subscribed, len(st.Subscribed))
}

// sameState reports a difference between a GroupState and the one wanted.
func (c *checker) sameState(what string, got, want offsetstore.GroupState) bool {
	if d := stateDiff(got, want); d != "" {
		c.errorf("%s: %s", what, d)
		return false
	}
	return true
}

// groupState calls GroupState and reports an error.
func (c *checker) groupState(ctx context.Context, f offsetstore.Fencer, group string) (offsetstore.GroupState, bool) {
	st, err := f.GroupState(ctx, group)
	return st, c.ok(err, "GroupState(group %s)", quote(group))
}

// wantState reports a violation unless group's stored state is want.
func (c *checker) wantState(ctx context.Context, f offsetstore.Fencer, group, when string, want offsetstore.GroupState) {
	if st, ok := c.groupState(ctx, f, group); ok {
		c.sameState(fmt.Sprintf("GroupState(group %s) %s", quote(group), when), st, want)
	}
}

// save calls SaveGroupState and reports an error.
func (c *checker) save(ctx context.Context, f offsetstore.Fencer, group string, prev int64, st offsetstore.GroupState) bool {
	return c.ok(f.SaveGroupState(ctx, group, prev, st), "SaveGroupState(group %s, prev %d, fence %d)", quote(group), prev, st.Fence)
}

// fullState is a GroupState with every field set, times below the millisecond and in a zone.
func fullState(fence int64, gen int32) offsetstore.GroupState {
	return offsetstore.GroupState{
		Fence:        fence,
		ProtocolType: "consumer",
		Protocol:     "cooperative-sticky",
		Generation:   gen,
		Empty:        gen%2 == 0,
		StateTime:    ms(int(gen)).Add(345 * time.Microsecond),
		Subscribed:   []string{"a", "a/b", "Grüße", fmt.Sprint("t", gen)},
	}
}

func checkFenceStart(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	if all, err := f.GroupStates(ctx); c.ok(err, "GroupStates of a new store") && len(all) != 0 {
		c.errorf("GroupStates of a new store returned %d groups; want none", len(all))
	}
	// Offsets alone create no state and move no fence.
	if !c.commit(ctx, s, "g", offsets{part("t", 0): {Offset: 1}}) {
		return
	}
	c.wantState(ctx, f, "g", "after a Commit", offsetstore.GroupState{})
	c.ok(f.CommitFenced(ctx, "g", 0, offsets{part("t", 1): {Offset: 2}}), `CommitFenced(group "g", fence 0) of a group never fenced`)
	c.ok(f.CommitFenced(ctx, "fresh", 0, offsets{part("t", 0): {Offset: 3}}), `CommitFenced(group "fresh", fence 0) of a group never used`)
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after CommitFenced with fence 0`, m, offsets{part("t", 0): {Offset: 1}, part("t", 1): {Offset: 2}})
	}
	if all, err := f.GroupStates(ctx); c.ok(err, "GroupStates after commits") && len(all) != 0 {
		c.errorf("GroupStates after commits only returned %d groups; want none", len(all))
	}
	c.wantState(ctx, f, "fresh", "after CommitFenced with fence 0", offsetstore.GroupState{})
}

func checkFenceState(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	long := strings.Repeat("g", 1000)
	cases := map[string]offsetstore.GroupState{
		"full":     fullState(0, 7),
		"advanced": fullState(5, 8),
		"unknown":  {ProtocolType: "connect", Generation: 1, StateTime: base, Subscribed: nil},
		"none":     {ProtocolType: "consumer", Empty: true, StateTime: ms(3), Subscribed: []string{}},
		"simple":   {Generation: -1, Subscribed: []string{strings.Repeat("t", 300), "\xff\xfe", "a\x00b"}},
		"":         {Protocol: "range", Generation: 2147483647, StateTime: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		"a/b":      {ProtocolType: "consumer", Protocol: "日本語", StateTime: ms(-5)},
		"..":       {Empty: true},
		"%2F":      {ProtocolType: "consumer", Generation: 4, Subscribed: []string{"%2F"}},
		"\xff\xfe": {ProtocolType: "\xc3(", Protocol: "\x00", Generation: 5},
		long:       {ProtocolType: "consumer", Generation: 3},
	}
	for g, st := range cases {
		in := st
		in.Subscribed = slices.Clone(st.Subscribed)
		if !c.save(ctx, f, g, 0, in) {
			return
		}
		// The caller's slice is not kept.
		if len(in.Subscribed) > 0 {
			in.Subscribed[0] = "changed by the caller"
		}
	}
	// A state saved back to zero leaves GroupStates; its fence stays.
	if !c.save(ctx, f, "cleared", 0, fullState(2, 2)) || !c.save(ctx, f, "cleared", 2, offsetstore.GroupState{Fence: 2}) {
		return
	}
	// A fence moved with a zero state is not listed either.
	if !c.save(ctx, f, "fence-only", 0, offsetstore.GroupState{Fence: 9}) {
		return
	}
	zeros := map[string]offsetstore.GroupState{"cleared": {Fence: 2}, "fence-only": {Fence: 9}, "never": {}}
	for g, want := range cases {
		c.wantState(ctx, f, g, "after SaveGroupState", want)
	}
	for g, want := range zeros {
		c.wantState(ctx, f, g, "(a zero state)", want)
	}
	all, err := f.GroupStates(ctx)
	if !c.ok(err, "GroupStates") {
		return
	}
	for g, want := range cases {
		got, ok := all[g]
		if !ok {
			c.errorf("GroupStates: group %s is missing", quote(g))
			continue
		}
		c.sameState(fmt.Sprintf("GroupStates: group %s", quote(g)), got, want)
	}
	for g, got := range all {
		if _, ok := cases[g]; !ok {
			c.errorf("GroupStates: group %s is listed with %s; want only groups with a non-zero state", quote(g), stateString(got))
		}
	}
	// Nothing returned is shared with the store.
	if st, ok := c.groupState(ctx, f, "full"); ok && len(st.Subscribed) > 0 {
		st.Subscribed[0] = "changed result"
	}
	if st := all["full"]; len(st.Subscribed) > 0 {
		st.Subscribed[1] = "changed result"
	}
	c.wantState(ctx, f, "full", "after the caller changed returned states", cases["full"])
	if again, err := f.GroupStates(ctx); c.ok(err, "GroupStates") {
		c.sameState(`GroupStates: group "full" after the caller changed returned states`, again["full"], cases["full"])
	}
	// Offsets and states of different groups are independent.
	if !c.commit(ctx, s, "full", offsets{part("t", 0): {Offset: 1}}) {
		return
	}
	c.wantState(ctx, f, "full", "after a Commit", cases["full"])
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after saving states of groups without offsets", gs, []string{"full"}, nil)
	}
}

func checkFenceSave(ctx context.Context, c *checker, h Harness) {
	_, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	const g = "cas"
	want := fullState(0, 1)
	if !c.save(ctx, f, g, 0, want) {
		return
	}
	c.wantState(ctx, f, g, "after SaveGroupState(prev 0, fence 0)", want)
	// A wrong prev changes nothing, whether it is behind or ahead.
	for _, prev := range []int64{1, -1, 7} {
		err := f.SaveGroupState(ctx, g, prev, fullState(prev+1, 9))
		if !errors.Is(err, offsetstore.ErrFenced) {
			c.errorf("SaveGroupState(group %q, prev %d) while the fence is 0 = %v; want ErrFenced", g, prev, err)
		}
	}
	c.wantState(ctx, f, g, "after SaveGroupState with wrong prevs", want)
	// Equal keeps the fence and replaces the state.
	want = fullState(0, 2)
	want.Subscribed = nil
	if !c.save(ctx, f, g, 0, want) {
		return
	}
	c.wantState(ctx, f, g, "after SaveGroupState(prev 0, fence 0) of a new state", want)
	// Greater advances the fence, by any amount.
	want = fullState(1, 3)
	if !c.save(ctx, f, g, 0, want) {
		return
	}
	c.wantState(ctx, f, g, "after SaveGroupState(prev 0, fence 1)", want)
	want = fullState(40, 4)
	if !c.save(ctx, f, g, 1, want) {
		return
	}
	c.wantState(ctx, f, g, "after SaveGroupState(prev 1, fence 40)", want)
	if err := f.SaveGroupState(ctx, g, 0, fullState(41, 5)); !errors.Is(err, offsetstore.ErrFenced) {
		c.errorf("SaveGroupState(group %q, prev 0) after the fence moved to 40 = %v; want ErrFenced", g, err)
	}
	// A fence below prev is invalid, even with the right prev.
	if err := f.SaveGroupState(ctx, g, 40, fullState(39, 6)); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf("SaveGroupState(group %q, prev 40, fence 39) = %v; want ErrInvalid", g, err)
	}
	c.wantState(ctx, f, g, "after SaveGroupState calls that must fail", want)
	// AdvanceFence moves the fence by one and keeps the state.
	n, err := offsetstore.AdvanceFence(ctx, f, g)
	if c.ok(err, "AdvanceFence(group %q)", g) && n != 41 {
		c.errorf("AdvanceFence(group %q) at fence 40 = %d; want 41", g, n)
	}
	want.Fence = 41
	c.wantState(ctx, f, g, "after AdvanceFence", want)
	// Another group is untouched.
	c.wantState(ctx, f, "cas-other", "after saving another group", offsetstore.GroupState{})
}

// fencedCall is one fenced write of the rules below, made with the given fence.
type fencedCall struct {
	name string
	call func(ctx context.Context, fence int64) error
}

func fencedCalls(f offsetstore.Fencer, g string, batch offsets, del []tp) []fencedCall {
	return []fencedCall{
		{"CommitFenced", func(ctx context.Context, fence int64) error { return f.CommitFenced(ctx, g, fence, batch) }},
		{"CommitFenced of nothing", func(ctx context.Context, fence int64) error { return f.CommitFenced(ctx, g, fence, nil) }},
		{"DeleteFenced", func(ctx context.Context, fence int64) error { return f.DeleteFenced(ctx, g, fence, del) }},
		{"DeleteFenced of nothing", func(ctx context.Context, fence int64) error { return f.DeleteFenced(ctx, g, fence, nil) }},
		{"ExpireOffsetsFenced", func(ctx context.Context, fence int64) error {
			_, err := f.ExpireOffsetsFenced(ctx, g, fence, func(tp, offsetstore.Offset) bool { return true })
			return err
		}},
		{"ExpireOffsetsFenced of nothing", func(ctx context.Context, fence int64) error {
			_, err := f.ExpireOffsetsFenced(ctx, g, fence, func(tp, offsetstore.Offset) bool { return false })
			return err
		}},
		{"DeleteGroupFenced", func(ctx context.Context, fence int64) error { return f.DeleteGroupFenced(ctx, g, fence) }},
	}
}

// opName is the Store method of a fencedCall.
func opName(call string) string { name, _, _ := strings.Cut(call, " "); return name }

func checkFencedWrites(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	const g = "fw"
	stored := offsets{
		part("t", 0): {Offset: 1, LeaderEpoch: -1, Metadata: "old", CommitTime: ms(1)},
		part("t", 1): {Offset: 2, LeaderEpoch: 3, Metadata: "new", CommitTime: ms(2)},
		part("u", 0): {Offset: 3, LeaderEpoch: -1, Metadata: "old", CommitTime: ms(3), ExpireTime: ms(9)},
	}
	state := fullState(3, 3)
	if !c.commit(ctx, s, g, stored) || !c.save(ctx, f, g, 0, state) {
		return
	}
	batch := offsets{part("t", 0): {Offset: 100, LeaderEpoch: 9, Metadata: "fenced", CommitTime: ms(100)}, part("v", 2): {Offset: 5, LeaderEpoch: -1}}
	calls := fencedCalls(f, g, batch, []tp{part("t", 1), part("w", 0)})
	// Every fenced write with a fence that is not the group's fails with ErrFenced, wrapped
	// in an *offsetstore.Error for its method, and changes nothing.
	for _, fence := range []int64{0, 2, 4, -3} {
		for _, call := range calls {
			c.wantError(call.call(ctx, fence), offsetstore.ErrFenced, opName(call.name), g)
		}
	}
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after fenced writes with stale fences", g), m, stored)
	}
	c.wantState(ctx, f, g, "after fenced writes with stale fences", state)
	// A fenced write to a group with no state and a fence moved elsewhere also checks its own
	// group's fence only.
	if err := f.CommitFenced(ctx, "fw-other", 3, batch); !errors.Is(err, offsetstore.ErrFenced) {
		c.errorf(`CommitFenced(group "fw-other", fence 3) of a group at fence 0 = %v; want ErrFenced`, err)
	}
	if m, ok := c.fetchAll(ctx, s, "fw-other"); ok {
		c.same(`FetchAll(group "fw-other") after a CommitFenced with a wrong fence`, m, nil)
	}

	// With the group's fence they behave exactly as the unfenced writes.
	want := offsets{}
	for k, o := range stored {
		want[k] = o
	}
	if !c.ok(f.CommitFenced(ctx, g, 3, batch), "CommitFenced(group %q, fence 3)", g) {
		return
	}
	for k, o := range batch {
		want[k] = o
	}
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after CommitFenced", g), m, want)
	}
	if err := f.CommitFenced(ctx, g, 3, offsets{part("t", 7): {}, part("t", -1): {}}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf("CommitFenced(group %q) of a negative partition = %v; want ErrInvalid", g, err)
	}
	if err := f.DeleteFenced(ctx, g, 3, []tp{part("t", 0), part("t", -1)}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf("DeleteFenced(group %q) of a negative partition = %v; want ErrInvalid", g, err)
	}
	if !c.ok(f.DeleteFenced(ctx, g, 3, []tp{part("t", 1), part("absent", 0)}), "DeleteFenced(group %q, fence 3)", g) {
		return
	}
	delete(want, part("t", 1))
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after DeleteFenced", g), m, want)
	}
	seen := offsets{}
	got, err := f.ExpireOffsetsFenced(ctx, g, 3, func(k tp, o offsetstore.Offset) bool {
		seen[k] = o
		return o.Metadata == "old"
	})
	if !c.ok(err, "ExpireOffsetsFenced(group %q, fence 3)", g) {
		return
	}
	c.same(fmt.Sprintf("the offsets ExpireOffsetsFenced(group %q) showed its predicate", g), seen, want)
	c.same(fmt.Sprintf("the offsets ExpireOffsetsFenced(group %q) returned", g), got, offsets{part("u", 0): stored[part("u", 0)]})
	delete(want, part("u", 0))
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after ExpireOffsetsFenced", g), m, want)
	}
	if !c.ok(f.DeleteGroupFenced(ctx, g, 3), "DeleteGroupFenced(group %q, fence 3)", g) {
		return
	}
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after DeleteGroupFenced", g), m, nil)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after DeleteGroupFenced", gs, nil, nil)
	}
	c.wantError(f.DeleteGroupFenced(ctx, g, 3), offsetstore.ErrGroupNotFound, "DeleteGroupFenced", g)
	c.wantError(f.DeleteGroupFenced(ctx, "fw-never", 0), offsetstore.ErrGroupNotFound, "DeleteGroupFenced", "fw-never")
	c.wantState(ctx, f, g, "after fenced writes with its fence", state)
}

func checkFenceKept(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	const g = "kept"
	state := fullState(4, 6)
	one := offsets{part("t", 0): {Offset: 1, LeaderEpoch: -1}}
	if !c.save(ctx, f, g, 0, state) {
		return
	}
	stale := func(when string) {
		if err := f.CommitFenced(ctx, g, 0, one); !errors.Is(err, offsetstore.ErrFenced) {
			c.errorf("CommitFenced(group %q, fence 0) %s = %v; want ErrFenced (the fence was reset)", g, when, err)
		}
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"Commit", func() error { return s.Commit(ctx, g, one) }},
		{"Delete of every partition", func() error { return s.Delete(ctx, g, []tp{part("t", 0)}) }},
		{"CommitFenced", func() error { return f.CommitFenced(ctx, g, 4, one) }},
		{"DeleteGroup", func() error { return s.DeleteGroup(ctx, g) }},
		{"CommitFenced after DeleteGroup", func() error { return f.CommitFenced(ctx, g, 4, one) }},
		{"DeleteFenced of every partition", func() error { return f.DeleteFenced(ctx, g, 4, []tp{part("t", 0)}) }},
		{"Commit", func() error { return s.Commit(ctx, g, one) }},
		{"DeleteGroupFenced", func() error { return f.DeleteGroupFenced(ctx, g, 4) }},
		{"Commit", func() error { return s.Commit(ctx, g, one) }},
		{"ExpireOffsetsFenced of every offset", func() error {
			_, err := f.ExpireOffsetsFenced(ctx, g, 4, func(tp, offsetstore.Offset) bool { return true })
			return err
		}},
	}
	if ex, ok := s.(offsetstore.Expirer); ok {
		steps = append(steps,
			struct {
				what string
				do   func() error
			}{"Commit", func() error { return s.Commit(ctx, g, one) }},
			struct {
				what string
				do   func() error
			}{"ExpireOffsets of every offset", func() error {
				_, err := ex.ExpireOffsets(ctx, g, func(tp, offsetstore.Offset) bool { return true })
				if errors.Is(err, errors.ErrUnsupported) {
					return nil
				}
				return err
			}})
	}
	for i, step := range steps {
		if !c.ok(step.do(), "step %d, %s of group %q", i+1, step.what, g) {
			return
		}
		when := fmt.Sprintf("after %s", step.what)
		c.wantState(ctx, f, g, when, state)
		stale(when)
		if c.failed() {
			return
		}
	}
	if all, err := f.GroupStates(ctx); c.ok(err, "GroupStates") {
		c.sameState(fmt.Sprintf("GroupStates: group %q after its offsets were deleted", g), all[g], state)
	}
}

func checkFenceErrors(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	const g = "fe"
	stored := offsets{part("t", 0): {Offset: 1, LeaderEpoch: -1}}
	state := fullState(2, 2)
	if !c.commit(ctx, s, g, stored) || !c.save(ctx, f, g, 0, state) {
		return
	}
	c.wantError(f.SaveGroupState(ctx, g, 1, fullState(3, 3)), offsetstore.ErrFenced, "SaveGroupState", g)
	c.wantError(f.SaveGroupState(ctx, g, 2, fullState(1, 3)), offsetstore.ErrInvalid, "SaveGroupState", g)
	c.wantError(f.CommitFenced(ctx, g, 2, offsets{part("t", -1): {}}), offsetstore.ErrInvalid, "CommitFenced", g)
	c.wantError(f.DeleteFenced(ctx, g, 2, []tp{part("t", -1)}), offsetstore.ErrInvalid, "DeleteFenced", g)

	calls := append(fencedCalls(f, g, offsets{part("t", 0): {Offset: 9}}, []tp{part("t", 0)}),
		fencedCall{"SaveGroupState", func(ctx context.Context, fence int64) error {
			return f.SaveGroupState(ctx, g, fence, fullState(fence+1, 9))
		}},
		fencedCall{"GroupState", func(ctx context.Context, _ int64) error { _, err := f.GroupState(ctx, g); return err }},
		fencedCall{"GroupStates", func(ctx context.Context, _ int64) error { _, err := f.GroupStates(ctx); return err }},
	)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, cx := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"past its deadline", expired, context.DeadlineExceeded},
	} {
		for _, call := range calls {
			if err := call.call(cx.ctx, 2); !errors.Is(err, cx.want) {
				c.errorf("%s(group %q) with a context %s = %v; want an error matching %v", call.name, g, cx.name, err, cx.want)
			}
		}
	}
	if m, ok := c.fetchAll(ctx, s, g); ok {
		c.same(fmt.Sprintf("FetchAll(group %q) after fenced writes with done contexts", g), m, stored)
	}
	c.wantState(ctx, f, g, "after calls with done contexts", state)
	c.closeBounded(s, "Close")
	for _, call := range calls {
		if err := call.call(ctx, 2); !errors.Is(err, offsetstore.ErrClosed) {
			c.errorf("%s(group %q) after Close = %v; want an error matching ErrClosed", call.name, g, err)
		}
	}
}

// The concurrency check of Fencer: fenceWriters goroutines commit with the fence they read
// while fenceAdvancers goroutines move it with AdvanceFence, each advance followed by a
// barrier commit (with the new fence) of every writer's partition and a read of them.
const (
	fenceWriters   = 8
	fenceAdvancers = 4
	fenceRounds    = 4  // advances each advancer attempts
	fenceWrites    = 48 // commits each writer attempts at most
)

// fenceValue is the offset writer w (or the barrier, w = -1) writes in its step seq with
// fence: the fence is recoverable from every value read back.
func fenceValue(w, seq int, fence int64) offsetstore.Offset {
	return offsetstore.Offset{Offset: fence<<32 | int64(seq), LeaderEpoch: int32(w), Metadata: fmt.Sprintf("writer %d step %d fence %d", w, seq, fence)}
}

func checkFenceConcurrency(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok {
		return
	}
	const g = "fc"
	state := fullState(0, 1)
	if !c.save(ctx, f, g, 0, state) {
		return
	}
	own := func(w int) tp { return part("own", int32(w)) }
	var (
		mu        sync.Mutex
		problems  []string
		published atomic.Int64 // the highest fence an AdvanceFence has returned
		advances  atomic.Int64 // successful AdvanceFence calls
		stop      atomic.Bool
		barrierMu sync.Mutex // one barrier and its read at a time
		ready     sync.WaitGroup
		writers   sync.WaitGroup
		advancers sync.WaitGroup
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	ready.Add(fenceWriters)
	for w := range fenceWriters {
		writers.Add(1)
		go func() {
			defer writers.Done()
			signalled := false
			defer func() {
				if !signalled {
					ready.Done()
				}
			}()
			for seq := 1; seq <= fenceWrites && (!stop.Load() || !signalled); seq++ {
				st, err := f.GroupState(ctx, g)
				if err != nil {
					problem("writer %d: GroupState: %v", w, err)
					return
				}
				before := published.Load()
				err = f.CommitFenced(ctx, g, st.Fence, offsets{own(w): fenceValue(w, seq, st.Fence)})
				switch {
				case err == nil && before > st.Fence:
					problem("writer %d: CommitFenced with fence %d succeeded, though it started after AdvanceFence had returned fence %d", w, st.Fence, before)
				case err != nil && !errors.Is(err, offsetstore.ErrFenced):
					problem("writer %d: CommitFenced: %v", w, err)
					return
				}
				if err == nil && !signalled {
					signalled = true
					ready.Done()
				}
			}
		}()
	}
	ready.Wait() // every writer has committed once before the fence first moves
	barrier := offsets{}
	for w := range fenceWriters {
		barrier[own(w)] = fenceValue(-1, 0, 0)
	}
	for a := range fenceAdvancers {
		advancers.Add(1)
		go func() {
			defer advancers.Done()
			for range fenceRounds {
				n, err := offsetstore.AdvanceFence(ctx, f, g)
				if errors.Is(err, offsetstore.ErrFenced) {
					continue // lost every retry to other advancers
				}
				if err != nil {
					problem("advancer %d: AdvanceFence: %v", a, err)
					return
				}
				advances.Add(1)
				for p := published.Load(); n > p && !published.CompareAndSwap(p, n); p = published.Load() {
				}
				b := offsets{}
				for k := range barrier {
					b[k] = fenceValue(-1, a, n)
				}
				barrierMu.Lock()
				err = f.CommitFenced(ctx, g, n, b)
				var m offsets
				if err == nil {
					m, err = s.Fetch(ctx, g, offsetstore.SortedPartitions(b))
				}
				barrierMu.Unlock()
				if errors.Is(err, offsetstore.ErrFenced) {
					continue // the fence moved again before the barrier
				}
				if err != nil {
					problem("advancer %d: barrier at fence %d: %v", a, n, err)
					return
				}
				for k, o := range m {
					if e := o.Offset >> 32; e < n {
						problem("partition %s holds %s, written with fence %d, read after a commit with fence %d returned: a write with a stale fence landed after the fence moved", tpString(k), describe(o), e, n)
					}
				}
			}
		}()
	}
	advancers.Wait()
	stop.Store(true)
	writers.Wait()
	for _, p := range problems {
		c.errorf("%s", p)
	}
	state.Fence = advances.Load()
	c.wantState(ctx, f, g, fmt.Sprintf("after %d successful AdvanceFence calls", state.Fence), state)
}

func checkFenceDurability(ctx context.Context, c *checker, h Harness) {
	s, f, ok := c.openFencer(ctx, h)
	if !ok || !h.Durable() {
		return
	}
	long := strings.Repeat("d", 1000)
	want := map[string]offsetstore.GroupState{
		"dur":        fullState(3, 5),
		"":           {ProtocolType: "consumer", Empty: true, StateTime: ms(1), Subscribed: []string{}},
		"a/b":        fullState(0, 2),
		long:         {Fence: 1, Generation: 4},
		"fence-only": {Fence: 6},
	}
	for g, st := range want {
		if !c.save(ctx, f, g, 0, st) {
			return
		}
	}
	if !c.commit(ctx, s, "dur", offsets{part("t", 0): {Offset: 1}}) || !c.ok(s.DeleteGroup(ctx, "dur"), `DeleteGroup(group "dur")`) {
		return
	}
	c.closeBounded(s, "Close before reopening")
	for round := 1; round <= 2; round++ {
		s2, ok := c.open(ctx, h)
		if !ok {
			return
		}
		f2, ok := s2.(offsetstore.Fencer)
		if !ok {
			c.errorf("the reopened store does not implement offsetstore.Fencer")
			return
		}
		when := fmt.Sprintf("after Close and reopen %d", round)
		for g, st := range want {
			c.wantState(ctx, f2, g, when, st)
		}
		if all, err := f2.GroupStates(ctx); c.ok(err, "GroupStates %s", when) {
			for g, st := range want {
				if st.IsZero() {
					if _, ok := all[g]; ok {
						c.errorf("GroupStates %s lists group %s, whose state is zero", when, quote(g))
					}
				} else {
					c.sameState(fmt.Sprintf("GroupStates %s: group %s", when, quote(g)), all[g], st)
				}
			}
			if len(all) != len(want)-1 {
				c.errorf("GroupStates %s returned %d groups; want %d", when, len(all), len(want)-1)
			}
		}
		if err := f2.CommitFenced(ctx, "dur", 0, offsets{part("t", 0): {Offset: 2}}); !errors.Is(err, offsetstore.ErrFenced) {
			c.errorf(`CommitFenced(group "dur", fence 0) %s = %v; want ErrFenced (the fence was forgotten)`, when, err)
		}
		next := want["dur"]
		next.Fence++
		if !c.save(ctx, f2, "dur", next.Fence-1, next) {
			return
		}
		want["dur"] = next
		c.closeBounded(s2, when)
	}
}
