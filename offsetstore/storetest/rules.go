package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

type (
	tp      = offsetstore.TopicPartition
	offsets = map[offsetstore.TopicPartition]offsetstore.Offset
)

// rules is every check of the suite, in the order Run runs them.
var rules = []rule{
	{name: "Absent", doc: "a partition never committed and a group never used are absent from Fetch and FetchAll (non-nil maps, no error, no sentinel value); an empty Commit stores nothing; a new store lists no groups", check: checkAbsent},
	{name: "RoundTrip", doc: "every field of a committed offset comes back from Fetch and FetchAll as committed (leader epoch -1, empty, 4 KiB, non-ASCII and non-UTF-8 metadata, extreme offsets), times truncated to the millisecond and a zero time kept zero", check: checkRoundTrip},
	{name: "LastWriterWins", doc: "the last Commit of a partition wins, including one that moves the offset backwards or clears the metadata, and leaves the batch's other partitions as they were", check: checkLastWriterWins},
	{name: "FetchAllLarge", doc: "FetchAll and Fetch return every offset of a group of more than 1,500 partitions over many topics, committed in several batches, and nothing of another group", check: checkFetchAllLarge},
	{name: "HostileNames", doc: "any string is a group id or topic name: hostile names never collide, FetchAll of each group returns exactly its own offsets, ListGroups returns each name, and deleting one group leaves every other intact", check: checkHostileNames},
	{name: "ListGroups", doc: "ListGroups returns every group with a stored offset exactly once and no other group (a group whose last offset Delete removed may stay listed)", check: checkListGroups},
	{name: "DeleteAbsent", doc: "Delete ignores partitions and groups with nothing stored and creates nothing, and removes exactly the partitions named", check: checkDeleteAbsent},
	{name: "DeleteGroup", doc: "after DeleteGroup the group has no offsets and is not listed, DeleteGroup of it again (or of a group never used) fails with ErrGroupNotFound, other groups are untouched, and a new Commit starts the group afresh", check: checkDeleteGroup},
	{name: "InvalidPartition", doc: "a negative partition fails Commit, Fetch and Delete with ErrInvalid before anything is stored or deleted", check: checkInvalidPartition},
	{name: "ErrorType", doc: "errors matching ErrClosed, ErrGroupNotFound and ErrInvalid are *offsetstore.Error values naming the method (Op) and the group", check: checkErrorType},
	{name: "Closed", doc: "after Close every method fails with an error matching ErrClosed; Close returns nil, promptly, and again nil when called again", check: checkClosed},
	{name: "Context", doc: "a call whose context is done (cancelled or past its deadline) fails with an error matching ctx.Err() and changes nothing", check: checkContext},
	{name: "NoAliasing", doc: "a store copies what it is given and what it returns: changing a map or slice passed to or returned by a call never changes what the store holds or later returns", check: checkNoAliasing},
	{name: "ReadYourWrites", doc: "on one Store, every call observes each Commit, Delete and DeleteGroup that returned before it", check: checkReadYourWrites},
	{name: "Concurrency", doc: "32 goroutines mixing Commit, Fetch, FetchAll, Delete, DeleteGroup and ListGroups get no errors, every offset read is whole and one that a writer wrote to that partition, each writer reads its own writes, and the final state is one the writers produced", check: checkConcurrency},
	{name: "Expirer", doc: "a store that implements offsetstore.Expirer shows its predicate every offset of the group, deletes and returns exactly those it chose, leaves other groups alone, never deletes a commit that raced with the predicate, and honours contexts and Close", check: checkExpirer},
	{name: "Inserter", doc: "a store that implements offsetstore.Inserter stores through CommitIfAbsent only partitions with nothing stored, leaves stored ones unchanged, rejects negative partitions, and honours contexts and Close", check: checkInserter},
	{name: "FetchIntoer", doc: "a store that implements offsetstore.FetchIntoer answers FetchInto exactly as Fetch, index by index (stored, absent and repeated partitions, a group never used), sets every element of dst and found it answers and no other, keeps neither slice, rejects negative partitions and short slices with ErrInvalid, and honours contexts and Close", check: checkFetchIntoer},
	{name: "SliceCommitter", doc: "a store that implements offsetstore.SliceCommitter stores through CommitSlice exactly what Commit of the same batch stores (a partition named twice: the later offset wins), keeps neither slice, rejects negative partitions and slices of different lengths with ErrInvalid before storing anything, and honours contexts and Close", check: checkSliceCommitter},
	{name: "FenceStart", doc: "a store that implements offsetstore.Fencer starts every group at fence 0 with a zero GroupState, lists no group states when new, and neither Commit nor CommitFenced with fence 0 moves a fence or creates a state", check: checkFenceStart},
	{name: "FenceState", doc: "SaveGroupState stores every field of a GroupState and GroupState and GroupStates return it (times truncated to the millisecond, nil Subscribed stays nil and an empty one stays empty, hostile group names), GroupStates lists exactly the groups whose state is not zero, and no slice is shared with the caller", check: checkFenceState},
	{name: "FenceSave", doc: "SaveGroupState replaces the state only when the stored fence is prev (else ErrFenced, nothing changed), rejects a fence below prev with ErrInvalid, keeps the fence when it is equal and moves it when it is greater; AdvanceFence moves it by one and keeps the state", check: checkFenceSave},
	{name: "FencedWrites", doc: "CommitFenced, DeleteFenced, ExpireOffsetsFenced and DeleteGroupFenced with a fence that is not the group's (older or newer) fail with ErrFenced and change nothing, empty batches included; with the group's fence they do exactly what Commit, Delete, ExpireOffsets and DeleteGroup do (ErrInvalid, ErrGroupNotFound included)", check: checkFencedWrites},
	{name: "FenceKept", doc: "Commit, Delete, DeleteGroup, ExpireOffsets and their fenced forms never reset a group's fence or state: an old fence stays refused after the group's offsets are gone", check: checkFenceKept},
	{name: "FenceErrors", doc: "Fencer errors are *offsetstore.Error values naming the method and group (ErrFenced and ErrInvalid), every Fencer method fails with ctx.Err() on a done context and changes nothing, and with ErrClosed after Close", check: checkFenceErrors},
	{name: "FenceConcurrency", doc: "while goroutines move a group's fence with AdvanceFence and others commit with the fence they read, no commit with an old fence is applied after a commit with a newer one, none succeeds after the advance past its fence returned, and the final fence is the number of successful advances", check: checkFenceConcurrency},
	{name: "FenceDurability", doc: "a durable store that implements offsetstore.Fencer returns, after Close and a new Open, every fence and group state it acknowledged, twice over, and still refuses old fences", check: checkFenceDurability},
	{name: "Durability", doc: "a durable store returns, after Close and a new Open, exactly what it acknowledged before (offsets, deletions, listed groups), twice over; any store can be opened again after Close", check: checkDurability},
}

// base is a commit time with sub-millisecond digits and a zone that is not UTC.
var base = time.Date(2026, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+5:30", 5*3600+1800))

// ms returns base moved by n milliseconds.
func ms(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

func checkAbsent(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	if gs, ok := c.listGroups(ctx, s); ok && len(gs) != 0 {
		c.sameGroups("ListGroups of a new store", gs, nil, nil)
	}
	tps := []tp{part("t", 0), part("t", 1), part("u", 0)}
	for _, g := range []string{"never-used", ""} {
		if m, ok := c.fetch(ctx, s, g, tps); ok {
			c.same(fmt.Sprintf("Fetch(group %s) of a group never used", quote(g)), m, nil)
		}
		if m, ok := c.fetchAll(ctx, s, g); ok {
			c.same(fmt.Sprintf("FetchAll(group %s) of a group never used", quote(g)), m, nil)
		}
	}
	c.ok(s.Commit(ctx, "empty-commit", nil), "Commit(group %q, nil)", "empty-commit")
	c.ok(s.Commit(ctx, "empty-commit", offsets{}), "Commit(group %q, empty map)", "empty-commit")

	want := offsets{part("t", 0): {Offset: 5, LeaderEpoch: -1}}
	if !c.commit(ctx, s, "g", want) {
		return
	}
	if m, ok := c.fetch(ctx, s, "g", tps); ok {
		c.same(`Fetch(group "g") of one committed and two never-committed partitions`, m, want)
	}
	if m, ok := c.fetch(ctx, s, "g", nil); ok {
		c.same(`Fetch(group "g", no partitions)`, m, nil)
	}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g")`, m, want)
	}
	if m, ok := c.fetch(ctx, s, "other", tps); ok {
		c.same(`Fetch(group "other") of partitions only group "g" committed`, m, nil)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after an empty Commit and one real one", gs, []string{"g"}, nil)
	}
}

func checkRoundTrip(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	var big strings.Builder
	for i := 0; big.Len() < 4096; i++ {
		big.WriteByte(byte(' ' + i%95))
	}
	cases := []offsetstore.Offset{
		{},
		{LeaderEpoch: -1},
		{Offset: 42, LeaderEpoch: 7, Metadata: "consumer-1", CommitTime: time.UnixMilli(1700000000123)},
		{Offset: 1, LeaderEpoch: 0, CommitTime: base},
		{Offset: 2, LeaderEpoch: 3, CommitTime: base, ExpireTime: base.Add(7*24*time.Hour + 555*time.Microsecond)},
		{Offset: 3, LeaderEpoch: -1, Metadata: big.String()[:4096], CommitTime: ms(1)},
		{Offset: 4, LeaderEpoch: 1, Metadata: "Grüße, 世界 🌍 \"quoted\" \\ back\n\ttab", CommitTime: ms(2)},
		{Offset: 5, LeaderEpoch: 2, Metadata: "\x00\x01\x1f\x7f", CommitTime: ms(3)},
		{Offset: 6, LeaderEpoch: 4, Metadata: "\xff\xfe\xc3(", CommitTime: ms(4)},
		{Offset: 7, Metadata: `{"type":"offset","value":1}`, CommitTime: ms(5)},
		{Offset: math.MaxInt64, LeaderEpoch: math.MaxInt32, Metadata: "max", CommitTime: ms(6), ExpireTime: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Offset: -1, LeaderEpoch: -1, CommitTime: ms(7)},
		{Offset: math.MinInt64, LeaderEpoch: -1, CommitTime: ms(8)},
		{Offset: 8, LeaderEpoch: 9, ExpireTime: ms(9)},
	}
	want := offsets{}
	var tps []tp
	for i, o := range cases {
		k := part("round-trip", int32(i))
		want[k] = o
		tps = append(tps, k)
	}
	last := part("round-trip.max-partition", math.MaxInt32)
	want[last] = cases[2]
	tps = append(tps, last)
	if !c.commit(ctx, s, "round-trip", want) {
		return
	}
	if m, ok := c.fetch(ctx, s, "round-trip", tps); ok {
		c.same(`Fetch(group "round-trip")`, m, want)
	}
	if m, ok := c.fetchAll(ctx, s, "round-trip"); ok {
		c.same(`FetchAll(group "round-trip")`, m, want)
	}
}

func checkLastWriterWins(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	a, b, u := part("t", 0), part("t", 1), part("u", 0)
	want := offsets{}
	steps := []offsets{
		{a: {Offset: 100, LeaderEpoch: 5, Metadata: "first", CommitTime: ms(1), ExpireTime: ms(100)}, b: {Offset: 10, LeaderEpoch: 5, CommitTime: ms(1)}},
		{a: {Offset: 200, LeaderEpoch: -1, Metadata: "", CommitTime: ms(2)}},
		{a: {Offset: 50, LeaderEpoch: 3, Metadata: "backwards", CommitTime: ms(1)}, b: {Offset: 0, LeaderEpoch: 2, CommitTime: ms(3)}},
		{u: {Offset: 7, LeaderEpoch: 1, CommitTime: ms(4)}},
		{a: {Offset: 49, LeaderEpoch: 3, CommitTime: ms(5)}, u: {Offset: 7, LeaderEpoch: 1, Metadata: "same offset, new metadata", CommitTime: ms(5)}},
		{b: {Offset: -1, LeaderEpoch: -1, CommitTime: ms(6)}},
	}
	for i, step := range steps {
		if !c.commit(ctx, s, "lww", step) {
			return
		}
		for k, o := range step {
			want[k] = o
		}
		if m, ok := c.fetchAll(ctx, s, "lww"); ok {
			c.same(fmt.Sprintf(`FetchAll(group "lww") after commit %d`, i+1), m, want)
		}
	}
	if m, ok := c.fetch(ctx, s, "lww", []tp{a, b, u}); ok {
		c.same(`Fetch(group "lww") after every commit`, m, want)
	}
}

func checkFetchAllLarge(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	const topics, perTopic = 64, 25 // 1,600 partitions
	want := offsets{}
	var keys, asked []tp
	for t := range topics {
		topic := fmt.Sprintf("large-topic-%02d", t)
		if t%8 == 0 {
			topic = fmt.Sprintf("large.topic_%d-with.dots", t)
		}
		for p := range perTopic {
			pn := int32(p)
			if t%2 == 1 {
				pn = int32(p*41 + t) // sparse partition numbers
			}
			k := part(topic, pn)
			want[k] = offsetstore.Offset{Offset: int64(t*100000 + p), LeaderEpoch: int32(t), Metadata: fmt.Sprintf("m%d", p), CommitTime: ms(t)}
			keys = append(keys, k)
		}
		asked = append(asked, part(topic, 9999)) // never committed
	}
	for i := 0; i < len(keys); i += 400 {
		batch := offsets{}
		for _, k := range keys[i:min(i+400, len(keys))] {
			batch[k] = want[k]
		}
		if !c.commit(ctx, s, "large", batch) {
			return
		}
	}
	neighbour := offsets{part("large-topic-01", 0): {Offset: -5, LeaderEpoch: -1}, part("large-topic-99", 3): {Offset: 1, LeaderEpoch: 1}}
	if !c.commit(ctx, s, "large-neighbour", neighbour) {
		return
	}
	if m, ok := c.fetchAll(ctx, s, "large"); ok {
		if len(m) != len(want) {
			c.errorf(`FetchAll(group "large") returned %d offsets; want %d`, len(m), len(want))
		}
		c.same(`FetchAll(group "large")`, m, want)
	}
	if m, ok := c.fetch(ctx, s, "large", append(asked, keys...)); ok {
		if len(m) != len(want) {
			c.errorf(`Fetch(group "large") of every partition returned %d offsets; want %d`, len(m), len(want))
		}
		c.same(`Fetch(group "large") of every partition`, m, want)
	}
	if m, ok := c.fetchAll(ctx, s, "large-neighbour"); ok {
		c.same(`FetchAll(group "large-neighbour")`, m, neighbour)
	}
}

// hostileNames are group ids and topic names that trip stores which build paths or keys from
// names: separators, dot segments, escapes, the words of a store's own layout, unicode,
// invalid UTF-8, control bytes, case twins and 1,000-byte names.
func hostileNames() []string {
	return []string{
		"", ".", "..", "...", "/", "//", "a", "A", "a/b", "a//b", "a/b/", "/a", "a_b", "a%2Fb", `a\b`,
		"%2F", "%", "%25", "%%", "a/0", "a/0/offset", "0", "../..", "./a", "a b", " ", "a\nb", "a\x00b",
		"offset", "consumer_offsets", ".meta", "topics", "kafka", "/topics/kafka/.meta/consumer_offsets",
		"日本語", "Grüße", "🚀", "\xff\xfe", "a:b*c?d", strings.Repeat("g", 1000), strings.Repeat("é", 500),
	}
}

func checkHostileNames(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	names := hostileNames()
	want := make(map[string]offsets, len(names))
	for gi, g := range names {
		m := offsets{}
		for ti, t := range names {
			m[part(t, 0)] = offsetstore.Offset{Offset: int64(gi*1000 + ti), LeaderEpoch: int32(gi), Metadata: fmt.Sprintf("g%d/t%d", gi, ti), CommitTime: ms(gi)}
		}
		m[part("a", int32(gi+1))] = offsetstore.Offset{Offset: int64(gi), LeaderEpoch: -1}
		want[g] = m
		if !c.commit(ctx, s, g, m) {
			return
		}
	}
	verify := func(when string) {
		for _, g := range names {
			if m, ok := c.fetchAll(ctx, s, g); ok {
				c.same(fmt.Sprintf("FetchAll(group %s) %s", quote(g), when), m, want[g])
			}
		}
		var listed []string
		for g := range want {
			listed = append(listed, g)
		}
		if gs, ok := c.listGroups(ctx, s); ok {
			c.sameGroups("ListGroups "+when, gs, listed, nil)
		}
	}
	verify("after committing every hostile name")
	if c.failed() {
		return
	}
	// Fetch by key, in a group whose name is a separator.
	keys := offsetstore.SortedPartitions(want["/"])
	if m, ok := c.fetch(ctx, s, "/", keys); ok {
		c.same(`Fetch(group "/") of every hostile topic`, m, want["/"])
	}
	// Delete single partitions whose topics are dot segments and separators.
	gone := []tp{part("..", 0), part(".", 0), part("", 0), part("a/b", 0)}
	if c.ok(s.Delete(ctx, "a", gone), `Delete(group "a", hostile topics)`) {
		for _, k := range gone {
			delete(want["a"], k)
		}
	}
	for _, g := range []string{".", "..", "", "a/b", "%2F", "offset", strings.Repeat("g", 1000)} {
		if c.ok(s.DeleteGroup(ctx, g), "DeleteGroup(group %s)", quote(g)) {
			delete(want, g)
		}
	}
	verify("after deleting hostile topics and groups")
	for _, g := range []string{".", "..", "", "a/b"} {
		if m, ok := c.fetchAll(ctx, s, g); ok {
			c.same(fmt.Sprintf("FetchAll(group %s) after DeleteGroup", quote(g)), m, nil)
		}
	}
}

func checkListGroups(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	groups := []string{""}
	for i := range 40 {
		groups = append(groups, fmt.Sprintf("list-%02d", i))
	}
	for i, g := range groups {
		m := offsets{part("t", 0): {Offset: int64(i)}}
		if i%3 == 0 {
			m[part("u", 4)] = offsetstore.Offset{Offset: 1}
		}
		if !c.commit(ctx, s, g, m) {
			return
		}
	}
	if !c.commit(ctx, s, "list-00", offsets{part("t", 0): {Offset: 100}}) {
		return
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups", gs, groups, nil)
	}
	if !c.ok(s.Delete(ctx, "list-01", []tp{part("t", 0)}), `Delete(group "list-01", its only partition)`) {
		return
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after Delete emptied a group", gs, without(groups, "list-01"), []string{"list-01"})
	}
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, d := range drop {
			keep = keep && s != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

func checkDeleteAbsent(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	if !c.ok(s.Delete(ctx, "never", []tp{part("t", 0)}), `Delete(group "never") of a group never used`) {
		return
	}
	if err := s.DeleteGroup(ctx, "never"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		c.errorf(`DeleteGroup(group "never") after Delete of a group never used = %v; want ErrGroupNotFound (Delete created the group)`, err)
	}
	want := offsets{part("t", 0): {Offset: 1}, part("t", 1): {Offset: 2}, part("u", 0): {Offset: 3}}
	if !c.commit(ctx, s, "g", want) {
		return
	}
	if c.ok(s.Delete(ctx, "g", []tp{part("t", 1), part("t", 7), part("v", 0)}), `Delete(group "g") of one stored and two absent partitions`) {
		delete(want, part("t", 1))
	}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after deleting one stored and two absent partitions`, m, want)
	}
	c.ok(s.Delete(ctx, "g", nil), `Delete(group "g", no partitions)`)
	c.ok(s.Delete(ctx, "g", []tp{part("t", 1)}), `Delete(group "g") of a partition deleted before`)
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after deleting nothing`, m, want)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after Deletes of absent partitions", gs, []string{"g"}, nil)
	}
	if c.ok(s.Delete(ctx, "g", []tp{part("t", 0), part("u", 0)}), `Delete(group "g") of its remaining partitions`) {
		if m, ok := c.fetchAll(ctx, s, "g"); ok {
			c.same(`FetchAll(group "g") after deleting every partition`, m, nil)
		}
	}
}

func checkDeleteGroup(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	if err := s.DeleteGroup(ctx, "never"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		c.errorf(`DeleteGroup(group "never") of a group never used = %v; want ErrGroupNotFound`, err)
	}
	g1 := offsets{part("t", 0): {Offset: 1}, part("t", 1): {Offset: 2}, part("u", 0): {Offset: 3, Metadata: "x"}}
	g2 := offsets{part("t", 0): {Offset: 10}}
	g3 := offsets{part("t", 0): {Offset: 20}}
	if !c.commit(ctx, s, "dg", g1) || !c.commit(ctx, s, "dg-2", g2) || !c.commit(ctx, s, "", g3) {
		return
	}
	if !c.ok(s.DeleteGroup(ctx, "dg"), `DeleteGroup(group "dg")`) {
		return
	}
	if m, ok := c.fetchAll(ctx, s, "dg"); ok {
		c.same(`FetchAll(group "dg") after DeleteGroup`, m, nil)
	}
	if m, ok := c.fetch(ctx, s, "dg", offsetstore.SortedPartitions(g1)); ok {
		c.same(`Fetch(group "dg") after DeleteGroup`, m, nil)
	}
	if err := s.DeleteGroup(ctx, "dg"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		c.errorf(`second DeleteGroup(group "dg") = %v; want ErrGroupNotFound`, err)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after DeleteGroup", gs, []string{"dg-2", ""}, nil)
	}
	if m, ok := c.fetchAll(ctx, s, "dg-2"); ok {
		c.same(`FetchAll(group "dg-2") after DeleteGroup of "dg"`, m, g2)
	}
	fresh := offsets{part("v", 3): {Offset: 30}}
	if c.commit(ctx, s, "dg", fresh) {
		if m, ok := c.fetchAll(ctx, s, "dg"); ok {
			c.same(`FetchAll(group "dg") after DeleteGroup and a new Commit`, m, fresh)
		}
	}
	if !c.ok(s.DeleteGroup(ctx, ""), `DeleteGroup(group "")`) {
		return
	}
	if err := s.DeleteGroup(ctx, ""); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		c.errorf(`second DeleteGroup(group "") = %v; want ErrGroupNotFound`, err)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups(`ListGroups after DeleteGroup of ""`, gs, []string{"dg", "dg-2"}, nil)
	}
	if m, ok := c.fetchAll(ctx, s, "dg-2"); ok {
		c.same(`FetchAll(group "dg-2") after DeleteGroup of ""`, m, g2)
	}
}

func checkInvalidPartition(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	want := offsets{part("t", 0): {Offset: 1}}
	if !c.commit(ctx, s, "g", want) {
		return
	}
	if err := s.Commit(ctx, "g", offsets{part("t", 1): {Offset: 2}, part("t", -1): {Offset: 3}, part("t", 0): {Offset: 4}}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`Commit(group "g") of a batch with partition -1 = %v; want ErrInvalid`, err)
	}
	if err := s.Commit(ctx, "new", offsets{part("t", math.MinInt32): {}}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`Commit(group "new") of partition %d = %v; want ErrInvalid`, math.MinInt32, err)
	}
	if _, err := s.Fetch(ctx, "g", []tp{part("t", 0), part("t", -1)}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`Fetch(group "g") of partition -1 = %v; want ErrInvalid`, err)
	}
	if err := s.Delete(ctx, "g", []tp{part("t", 0), part("t", -2)}); !errors.Is(err, offsetstore.ErrInvalid) {
		c.errorf(`Delete(group "g") of partition -2 = %v; want ErrInvalid`, err)
	}
	if m, ok := c.fetchAll(ctx, s, "g"); ok {
		c.same(`FetchAll(group "g") after calls with negative partitions`, m, want)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after a Commit of only a negative partition", gs, []string{"g"}, nil)
	}
}

// wantError reports a violation unless err matches target and is an *offsetstore.Error for op
// and group.
func (c *checker) wantError(err, target error, op, group string) {
	if !errors.Is(err, target) {
		c.errorf("%s(group %s) = %v; want an error matching %v", op, quote(group), err, target)
		return
	}
	var serr *offsetstore.Error
	if !errors.As(err, &serr) {
		c.errorf("%s(group %s) = %v (%T); want an *offsetstore.Error", op, quote(group), err, err)
		return
	}
	if serr.Op != op || serr.Group != group {
		c.errorf("%s(group %s) = *offsetstore.Error{Op: %q, Group: %s}; want Op %q, Group %s", op, quote(group), serr.Op, quote(serr.Group), op, quote(group))
	}
}

func checkErrorType(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	neg := []tp{part("t", -1)}
	c.wantError(s.DeleteGroup(ctx, "missing/group"), offsetstore.ErrGroupNotFound, "DeleteGroup", "missing/group")
	c.wantError(s.Commit(ctx, "inv", offsets{neg[0]: {}}), offsetstore.ErrInvalid, "Commit", "inv")
	_, err := s.Fetch(ctx, "inv", neg)
	c.wantError(err, offsetstore.ErrInvalid, "Fetch", "inv")
	c.wantError(s.Delete(ctx, "inv", neg), offsetstore.ErrInvalid, "Delete", "inv")
	if !c.ok(s.Close(), "Close") {
		return
	}
	c.wantError(s.Commit(ctx, "c", offsets{part("t", 0): {}}), offsetstore.ErrClosed, "Commit", "c")
	_, err = s.Fetch(ctx, "c", []tp{part("t", 0)})
	c.wantError(err, offsetstore.ErrClosed, "Fetch", "c")
	_, err = s.FetchAll(ctx, "c")
	c.wantError(err, offsetstore.ErrClosed, "FetchAll", "c")
	c.wantError(s.Delete(ctx, "c", []tp{part("t", 0)}), offsetstore.ErrClosed, "Delete", "c")
	c.wantError(s.DeleteGroup(ctx, "c"), offsetstore.ErrClosed, "DeleteGroup", "c")
	_, err = s.ListGroups(ctx)
	c.wantError(err, offsetstore.ErrClosed, "ListGroups", "")
}

// closeTimeout bounds how long Close may take before the suite calls it hung.
const closeTimeout = 30 * time.Second

func (c *checker) closeBounded(s offsetstore.Store, what string) {
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			c.errorf("%s: Close = %v; want nil", what, err)
		}
	case <-time.After(closeTimeout):
		c.errorf("%s: Close did not return within %v", what, closeTimeout)
	}
}

func checkClosed(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	if !c.commit(ctx, s, "g", offsets{part("t", 0): {Offset: 1}}) {
		return
	}
	c.closeBounded(s, "first Close")
	c.closeBounded(s, "second Close")
	if c.failed() {
		return
	}
	calls := []struct {
		name string
		call func() error
	}{
		{`Commit(group "g")`, func() error { return s.Commit(ctx, "g", offsets{part("t", 0): {Offset: 2}}) }},
		{`Commit(group "new")`, func() error { return s.Commit(ctx, "new", offsets{part("t", 0): {Offset: 2}}) }},
		{`Fetch(group "g")`, func() error { _, err := s.Fetch(ctx, "g", []tp{part("t", 0)}); return err }},
		{`Fetch(group "g", no partitions)`, func() error { _, err := s.Fetch(ctx, "g", nil); return err }},
		{`FetchAll(group "g")`, func() error { _, err := s.FetchAll(ctx, "g"); return err }},
		{`FetchAll(group "never")`, func() error { _, err := s.FetchAll(ctx, "never"); return err }},
		{`Delete(group "g")`, func() error { return s.Delete(ctx, "g", []tp{part("t", 0)}) }},
		{`DeleteGroup(group "g")`, func() error { return s.DeleteGroup(ctx, "g") }},
		{`DeleteGroup(group "never")`, func() error { return s.DeleteGroup(ctx, "never") }},
		{"ListGroups", func() error { _, err := s.ListGroups(ctx); return err }},
	}
	for _, call := range calls {
		if err := call.call(); !errors.Is(err, offsetstore.ErrClosed) {
			c.errorf("%s after Close = %v; want an error matching ErrClosed", call.name, err)
		}
	}
	c.closeBounded(s, "third Close, after calls on the closed store")
}

func checkContext(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	g1 := offsets{part("t", 0): {Offset: 1, Metadata: "kept"}}
	g2 := offsets{part("t", 0): {Offset: 10}}
	if !c.commit(ctx, s, "ctx-1", g1) || !c.commit(ctx, s, "ctx-2", g2) {
		return
	}
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
		calls := []struct {
			name string
			call func() error
		}{
			{`Commit(group "ctx-1")`, func() error {
				return s.Commit(cx.ctx, "ctx-1", offsets{part("t", 0): {Offset: 2}, part("t", 1): {Offset: 2}})
			}},
			{`Commit(group "ctx-new")`, func() error { return s.Commit(cx.ctx, "ctx-new", offsets{part("t", 0): {Offset: 2}}) }},
			{`Fetch(group "ctx-1")`, func() error { _, err := s.Fetch(cx.ctx, "ctx-1", []tp{part("t", 0)}); return err }},
			{`FetchAll(group "ctx-1")`, func() error { _, err := s.FetchAll(cx.ctx, "ctx-1"); return err }},
			{`Delete(group "ctx-1")`, func() error { return s.Delete(cx.ctx, "ctx-1", []tp{part("t", 0)}) }},
			{`DeleteGroup(group "ctx-2")`, func() error { return s.DeleteGroup(cx.ctx, "ctx-2") }},
			{"ListGroups", func() error { _, err := s.ListGroups(cx.ctx); return err }},
		}
		for _, call := range calls {
			if err := call.call(); !errors.Is(err, cx.want) {
				c.errorf("%s with a context %s = %v; want an error matching %v", call.name, cx.name, err, cx.want)
			}
		}
	}
	if m, ok := c.fetchAll(ctx, s, "ctx-1"); ok {
		c.same(`FetchAll(group "ctx-1") after Commit and Delete with done contexts`, m, g1)
	}
	if m, ok := c.fetchAll(ctx, s, "ctx-2"); ok {
		c.same(`FetchAll(group "ctx-2") after DeleteGroup with done contexts`, m, g2)
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after calls with done contexts", gs, []string{"ctx-1", "ctx-2"}, nil)
	}
}

func checkNoAliasing(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	a, b := part("t", 0), part("t", 1)
	want := offsets{a: {Offset: 1, LeaderEpoch: 1, Metadata: "one", CommitTime: ms(1)}, b: {Offset: 2, LeaderEpoch: -1}}
	in := offsets{}
	for k, o := range want {
		in[k] = o
	}
	if !c.commit(ctx, s, "alias", in) {
		return
	}
	in[a] = offsetstore.Offset{Offset: 99, Metadata: "changed by the caller"}
	in[part("t", 9)] = offsetstore.Offset{Offset: 9}
	delete(in, b)
	if m, ok := c.fetchAll(ctx, s, "alias"); ok {
		c.same(`FetchAll(group "alias") after the caller changed the map it committed`, m, want)
	}

	mutate := func(m offsets) {
		m[a] = offsetstore.Offset{Offset: 77, Metadata: "changed result"}
		m[part("t", 5)] = offsetstore.Offset{Offset: 5}
		delete(m, b)
	}
	if m, ok := c.fetch(ctx, s, "alias", []tp{a, b}); ok {
		mutate(m)
	}
	if m, ok := c.fetch(ctx, s, "alias", []tp{a, b}); ok {
		c.same(`Fetch(group "alias") after the caller changed a Fetch result`, m, want)
	}
	if m, ok := c.fetchAll(ctx, s, "alias"); ok {
		mutate(m)
	}
	if m, ok := c.fetchAll(ctx, s, "alias"); ok {
		c.same(`FetchAll(group "alias") after the caller changed a FetchAll result`, m, want)
	}
	first, ok1 := c.fetchAll(ctx, s, "alias")
	second, ok2 := c.fetchAll(ctx, s, "alias")
	if ok1 && ok2 {
		mutate(first)
		c.same(`a FetchAll(group "alias") result after the caller changed another one`, second, want)
	}
	tps := []tp{a, b}
	if m, ok := c.fetch(ctx, s, "alias", tps); ok {
		tps[0], tps[1] = part("x", 0), part("y", 0)
		c.same(`a Fetch(group "alias") result after the caller changed the partitions it asked for`, m, want)
	}
	if gs, ok := c.listGroups(ctx, s); ok && len(gs) > 0 {
		gs[0] = "changed by the caller"
	}
	if gs, ok := c.listGroups(ctx, s); ok {
		c.sameGroups("ListGroups after the caller changed a ListGroups result", gs, []string{"alias"}, nil)
	}
}

func checkReadYourWrites(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	want := offsets{}
	for i := range 16 {
		k := part("ryw", int32(i%3))
		o := offsetstore.Offset{Offset: int64(1000 + (i%2*2-1)*i*7), LeaderEpoch: int32(i), Metadata: fmt.Sprint("write ", i), CommitTime: ms(i)}
		if !c.commit(ctx, s, "ryw", offsets{k: o}) {
			return
		}
		want[k] = o
		if m, ok := c.fetch(ctx, s, "ryw", []tp{k}); ok {
			c.same(fmt.Sprintf("Fetch right after commit %d", i), m, offsets{k: o})
		}
		switch {
		case i%4 == 3:
			if c.ok(s.Delete(ctx, "ryw", []tp{k}), "Delete of partition %s", tpString(k)) {
				delete(want, k)
			}
			if m, ok := c.fetch(ctx, s, "ryw", []tp{k}); ok {
				c.same(fmt.Sprintf("Fetch right after Delete %d", i), m, nil)
			}
		case i == 10:
			if c.ok(s.DeleteGroup(ctx, "ryw"), `DeleteGroup(group "ryw")`) {
				want = offsets{}
			}
			if gs, ok := c.listGroups(ctx, s); ok {
				c.sameGroups("ListGroups right after DeleteGroup", gs, nil, nil)
			}
		}
		if m, ok := c.fetchAll(ctx, s, "ryw"); ok {
			c.same(fmt.Sprintf("FetchAll after step %d", i), m, want)
		}
		if c.failed() {
			return
		}
	}
}

func checkDurability(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	long := strings.Repeat("d", 1000)
	want := map[string]offsets{
		"dur": {
			part("t", 0): {Offset: 100, LeaderEpoch: -1, CommitTime: ms(1)},
			part("t", 1): {Offset: 7, LeaderEpoch: 4, Metadata: "Grüße 🌍", CommitTime: ms(2), ExpireTime: ms(86400000)},
			part("u", 2): {Offset: 1, LeaderEpoch: 0, Metadata: strings.Repeat("m", 4096)},
		},
		"":    {part("t", 0): {Offset: 3}},
		"a/b": {part("..", 0): {Offset: 4, Metadata: "dots"}},
		long:  {part(long, math.MaxInt32): {Offset: 5}},
	}
	for g, m := range want {
		if !c.commit(ctx, s, g, m) {
			return
		}
	}
	back := offsetstore.Offset{Offset: 50, LeaderEpoch: 2, Metadata: "moved back", CommitTime: ms(3)}
	if !c.commit(ctx, s, "dur", offsets{part("t", 0): back}) {
		return
	}
	want["dur"][part("t", 0)] = back
	if !c.ok(s.Delete(ctx, "dur", []tp{part("u", 2)}), `Delete(group "dur")`) {
		return
	}
	delete(want["dur"], part("u", 2))
	if !c.commit(ctx, s, "dur-deleted", offsets{part("t", 0): {Offset: 9}}) || !c.ok(s.DeleteGroup(ctx, "dur-deleted"), `DeleteGroup(group "dur-deleted")`) {
		return
	}
	c.closeBounded(s, "Close before reopening")
	if c.failed() {
		return
	}

	if !h.Durable() {
		// Nothing need survive; the harness must still open a working store.
		s2, ok := c.open(ctx, h)
		if !ok {
			return
		}
		m := offsets{part("t", 0): {Offset: 1}}
		if c.commit(ctx, s2, "after-reopen", m) {
			if got, ok := c.fetchAll(ctx, s2, "after-reopen"); ok {
				c.same(`FetchAll(group "after-reopen") on a reopened store`, got, m)
			}
		}
		c.closeBounded(s2, "Close of the reopened store")
		return
	}

	verify := func(s offsetstore.Store, when string) {
		var groups []string
		for g, m := range want {
			groups = append(groups, g)
			if got, ok := c.fetchAll(ctx, s, g); ok {
				c.same(fmt.Sprintf("FetchAll(group %s) %s", quote(g), when), got, m)
			}
		}
		if gs, ok := c.listGroups(ctx, s); ok {
			c.sameGroups("ListGroups "+when, gs, groups, nil)
		}
		if err := s.DeleteGroup(ctx, "dur-deleted"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
			c.errorf(`DeleteGroup(group "dur-deleted") %s = %v; want ErrGroupNotFound`, when, err)
		}
	}
	s2, ok := c.open(ctx, h)
	if !ok {
		return
	}
	verify(s2, "after Close and reopen")
	more := offsets{part("t", 0): {Offset: 60, LeaderEpoch: 3, CommitTime: ms(4)}, part("v", 0): {Offset: 1}}
	if !c.commit(ctx, s2, "dur", more) || !c.ok(s2.DeleteGroup(ctx, ""), `DeleteGroup(group "")`) {
		return
	}
	for k, o := range more {
		want["dur"][k] = o
	}
	delete(want, "")
	c.closeBounded(s2, "second Close")
	s3, ok := c.open(ctx, h)
	if !ok {
		return
	}
	verify(s3, "after a second Close and reopen")
	if err := s3.DeleteGroup(ctx, ""); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		c.errorf(`DeleteGroup(group "") after the second reopen = %v; want ErrGroupNotFound`, err)
	}
	c.closeBounded(s3, "third Close")
}

// part returns the TopicPartition of topic and partition.
func part(topic string, partition int32) tp { return tp{Topic: topic, Partition: partition} }
