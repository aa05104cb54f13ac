// Package storetest is the conformance suite every [offsetstore.Store] runs, in the spirit of
// testing/fstest and go-cloud's drivertest. Each rule of the contract in package offsetstore is
// a named check; a store passes when none of them finds a violation.
//
// A backend's test hands the suite a way to make a [Harness], a fresh namespace that opens
// stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
//			dir := t.TempDir()
//			return myHarness{dir: dir}, nil // Open opens a store on dir
//		})
//	}
//
// Run runs every rule as a subtest named after it, each on a new harness so that rules never
// see each other's data. A store that needs no harness, such as an in-memory one, can use
// [TestStore], which returns every violation as one error; [TestHarness] does the same for a
// harness. Run, TestStore and TestHarness run the same checks. Each violation is a
// [*Violation] naming the rule it breaks and stating that rule in one line.
//
// # Rules
//
// The rules, in the order they run (Rules returns each with its one-line statement): Absent,
// RoundTrip, LastWriterWins, FetchAllLarge (a group of 1,600 partitions over 64 topics),
// HostileNames (groups and topics such as "", ".", "..", "a/b", "a//b", "%2F", unicode,
// invalid UTF-8, NUL bytes, 1,000-byte names and the words of a store's own layout, with no
// collision between any two), ListGroups, DeleteAbsent, DeleteGroup, InvalidPartition,
// ErrorType, Closed, Context, NoAliasing, ReadYourWrites, Concurrency (32 goroutines; run the
// suite with -race), Expirer, Inserter, FetchIntoer and SliceCommitter (the optional
// capabilities of package offsetstore, checked when the store implements them), FenceStart,
// FenceState, FenceSave, FencedWrites, FenceKept, FenceErrors, FenceConcurrency and
// FenceDurability (offsetstore.Fencer, when the store implements it) and Durability (close
// and reopen, when the harness is durable).
//
// To run one rule of a backend's suite, select its subtest:
//
//	go test -race -run 'TestConformance/HostileNames' ./mybackend
//
// The suite keeps its number of sequential calls small (it batches, and its concurrency check is
// bounded), so a store that makes a network round trip per call runs it in seconds.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Harness gives the suite stores over one namespace of its own (a directory, a key prefix, a
// fresh server). Its methods are called from one goroutine at a time.
type Harness interface {
	// Open returns a Store over the harness's namespace. The first call sees an empty
	// namespace. A later call is made only after the Store from the previous call was closed;
	// when Durable reports true it must see everything that Store acknowledged.
	Open(ctx context.Context) (offsetstore.Store, error)
	// Durable reports whether offsets survive Close and a later Open.
	Durable() bool
	// Close releases the namespace and everything the harness started. The suite closes
	// every Store it opened before it calls Close.
	Close()
}

// NewHarness makes a new Harness with an empty namespace. It may use t for t.TempDir,
// t.Cleanup and logging.
type NewHarness func(ctx context.Context, t *testing.T) (Harness, error)

// Rule names one rule of the store contract that the suite checks.
type Rule struct {
	Name string // the subtest name, such as "RoundTrip"
	Doc  string // the rule, in one line
}

// Rules returns every rule the suite checks, in the order it checks them.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = Rule{Name: r.name, Doc: r.doc}
	}
	return out
}

// Violation is one way in which a store broke a rule.
type Violation struct {
	Rule   string // the rule's name, as in Rules
	Doc    string // the rule, in one line
	Detail string // what the store did
}

// Error implements the error interface.
func (v *Violation) Error() string {
	return "storetest: " + v.Rule + ": " + v.Detail + "\n\trule: " + v.Doc
}

// Run runs every rule as a subtest of t named after the rule, each on a harness of its own
// made by newHarness and closed when the subtest ends. Every violation is reported with
// t.Error.
func Run(t *testing.T, newHarness NewHarness) {
	t.Helper()
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			ctx := t.Context()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("storetest: making a harness: %v", err)
			}
			defer h.Close()
			for _, v := range r.run(ctx, h) {
				t.Error(v)
			}
		})
	}
}

// TestStore runs the rules named in only (every rule when only is empty) against the stores
// that open returns, and returns every violation joined with errors.Join, or nil. Each call of
// open must return a new, empty Store that nothing else uses; the durability rule then checks
// only that a store can be opened again after Close.
func TestStore(ctx context.Context, open func(ctx context.Context) (offsetstore.Store, error), only ...string) error {
	return TestHarness(ctx, func(context.Context) (Harness, error) {
		return funcHarness{open: open}, nil
	}, only...)
}

// TestHarness is TestStore for a harness: it runs the rules named in only (every rule when
// only is empty), each on a new harness from newHarness, and returns every violation joined
// with errors.Join, or nil. A name that is not a rule is reported as an error.
func TestHarness(ctx context.Context, newHarness func(ctx context.Context) (Harness, error), only ...string) error {
	var errs []error
	for _, name := range only {
		if !slices.ContainsFunc(rules, func(r rule) bool { return r.name == name }) {
			errs = append(errs, fmt.Errorf("storetest: no rule named %q", name))
		}
	}
	for _, r := range rules {
		if len(only) > 0 && !slices.Contains(only, r.name) {
			continue
		}
		h, err := newHarness(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("storetest: %s: making a harness: %w", r.name, err))
			continue
		}
		for _, v := range r.run(ctx, h) {
			errs = append(errs, v)
		}
		h.Close()
	}
	return errors.Join(errs...)
}

// funcHarness adapts an open function, which returns a new empty store on every call, to a
// Harness that is not durable.
type funcHarness struct {
	open func(ctx context.Context) (offsetstore.Store, error)
}

func (h funcHarness) Open(ctx context.Context) (offsetstore.Store, error) { return h.open(ctx) }
func (funcHarness) Durable() bool                                         { return false }
func (funcHarness) Close()                                                {}

// rule is one check of the suite.
type rule struct {
	name string
	doc  string
	// check opens the stores it needs from h, closes them, and reports what it finds to c.
	check func(ctx context.Context, c *checker, h Harness)
}

// maxViolations bounds how many violations one rule reports, so that a store that gets a
// 1,500-partition group wrong does not print 1,500 lines.
const maxViolations = 12

func (r rule) run(ctx context.Context, h Harness) []*Violation {
	c := &checker{rule: r}
	r.check(ctx, c, h)
	for _, s := range c.opened {
		s.Close()
	}
	if c.dropped > 0 {
		c.list = append(c.list, &Violation{Rule: r.name, Doc: r.doc,
			Detail: fmt.Sprintf("... and %d more violations", c.dropped)})
	}
	return c.list
}

// checker collects the violations of one rule.
type checker struct {
	rule    rule
	list    []*Violation
	dropped int
	opened  []offsetstore.Store // closed again when the rule ends (Close is idempotent)
}

func (c *checker) errorf(format string, args ...any) {
	if len(c.list) >= maxViolations {
		c.dropped++
		return
	}
	c.list = append(c.list, &Violation{Rule: c.rule.name, Doc: c.rule.doc, Detail: fmt.Sprintf(format, args...)})
}

// failed reports whether the rule has found a violation so far.
func (c *checker) failed() bool { return len(c.list) > 0 || c.dropped > 0 }

// open opens a store from h, reporting a failure as a violation.
func (c *checker) open(ctx context.Context, h Harness) (offsetstore.Store, bool) {
	s, err := h.Open(ctx)
	if err != nil {
		c.errorf("Harness.Open: %v", err)
		return nil, false
	}
	if s == nil {
		c.errorf("Harness.Open returned a nil Store")
		return nil, false
	}
	c.opened = append(c.opened, s)
	return s, true
}

// ok reports a non-nil err from a call that must succeed, and returns whether err was nil.
func (c *checker) ok(err error, call string, args ...any) bool {
	if err != nil {
		c.errorf("%s: unexpected error: %v", fmt.Sprintf(call, args...), err)
		return false
	}
	return true
}

// commit commits and reports an error.
func (c *checker) commit(ctx context.Context, s offsetstore.Store, group string, m map[offsetstore.TopicPartition]offsetstore.Offset) bool {
	return c.ok(s.Commit(ctx, group, m), "Commit(group %s, %d offsets)", quote(group), len(m))
}

// fetchAll calls FetchAll and reports an error or a nil map.
func (c *checker) fetchAll(ctx context.Context, s offsetstore.Store, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, bool) {
	m, err := s.FetchAll(ctx, group)
	if !c.ok(err, "FetchAll(group %s)", quote(group)) {
		return nil, false
	}
	if m == nil {
		c.errorf("FetchAll(group %s) returned a nil map; want a non-nil map", quote(group))
		return map[offsetstore.TopicPartition]offsetstore.Offset{}, true
	}
	return m, true
}

// fetch calls Fetch and reports an error or a nil map.
func (c *checker) fetch(ctx context.Context, s offsetstore.Store, group string, tps []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, bool) {
	m, err := s.Fetch(ctx, group, tps)
	if !c.ok(err, "Fetch(group %s, %d partitions)", quote(group), len(tps)) {
		return nil, false
	}
	if m == nil {
		c.errorf("Fetch(group %s, %d partitions) returned a nil map; want a non-nil map", quote(group), len(tps))
		return map[offsetstore.TopicPartition]offsetstore.Offset{}, true
	}
	return m, true
}

// listGroups calls ListGroups and reports an error.
func (c *checker) listGroups(ctx context.Context, s offsetstore.Store) ([]string, bool) {
	gs, err := s.ListGroups(ctx)
	return gs, c.ok(err, "ListGroups")
}

// same reports every difference between got and want (whose values are compared after
// normalising want) as a violation of the call described by what.
func (c *checker) same(what string, got, want map[offsetstore.TopicPartition]offsetstore.Offset) bool {
	good := true
	for _, tp := range offsetstore.SortedPartitions(want) {
		w := offsetstore.Normalize(want[tp])
		g, ok := got[tp]
		if !ok {
			c.errorf("%s: partition %s is missing; want %s", what, tpString(tp), describe(w))
			good = false
			continue
		}
		if d := diff(g, w); d != "" {
			c.errorf("%s: partition %s: %s", what, tpString(tp), d)
			good = false
		}
	}
	for _, tp := range offsetstore.SortedPartitions(got) {
		if _, ok := want[tp]; !ok {
			c.errorf("%s: partition %s is present (%s); want it absent", what, tpString(tp), describe(got[tp]))
			good = false
		}
	}
	return good
}

// sameGroups reports a difference between the groups ListGroups returned and the set wanted;
// the groups in optional may be listed or not.
func (c *checker) sameGroups(what string, got, want, optional []string) {
	seen := make(map[string]int, len(got))
	for _, g := range got {
		seen[g]++
	}
	for g, n := range seen {
		if n > 1 {
			c.errorf("%s: group %s is listed %d times; want once", what, quote(g), n)
		}
		if !slices.Contains(want, g) && !slices.Contains(optional, g) {
			c.errorf("%s: group %s is listed; want it absent", what, quote(g))
		}
	}
	for _, g := range want {
		if seen[g] == 0 {
			c.errorf("%s: group %s is missing", what, quote(g))
		}
	}
}

// diff describes how got differs from want (already normalised), or returns "".
func diff(got, want offsetstore.Offset) string {
	var d []string
	if got.Offset != want.Offset {
		d = append(d, fmt.Sprintf("Offset = %d, want %d", got.Offset, want.Offset))
	}
	if got.LeaderEpoch != want.LeaderEpoch {
		d = append(d, fmt.Sprintf("LeaderEpoch = %d, want %d", got.LeaderEpoch, want.LeaderEpoch))
	}
	if got.Metadata != want.Metadata {
		d = append(d, fmt.Sprintf("Metadata = %s, want %s", quote(got.Metadata), quote(want.Metadata)))
	}
	if !got.CommitTime.Equal(want.CommitTime) || got.CommitTime.IsZero() != want.CommitTime.IsZero() {
		d = append(d, fmt.Sprintf("CommitTime = %s, want %s", timeString(got.CommitTime), timeString(want.CommitTime)))
	}
	if !got.ExpireTime.Equal(want.ExpireTime) || got.ExpireTime.IsZero() != want.ExpireTime.IsZero() {
		d = append(d, fmt.Sprintf("ExpireTime = %s, want %s", timeString(got.ExpireTime), timeString(want.ExpireTime)))
	}
	return strings.Join(d, "; ")
}

func describe(o offsetstore.Offset) string {
	return fmt.Sprintf("{Offset %d, LeaderEpoch %d, Metadata %s, CommitTime %s, ExpireTime %s}",
		o.Offset, o.LeaderEpoch, quote(o.Metadata), timeString(o.CommitTime), timeString(o.ExpireTime))
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return fmt.Sprintf("%dns", t.UnixNano())
}

// quote quotes a name or metadata for a message, shortening long ones.
func quote(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", s[:32], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func tpString(tp offsetstore.TopicPartition) string {
	return fmt.Sprintf("%s/%d", quote(tp.Topic), tp.Partition)
}
