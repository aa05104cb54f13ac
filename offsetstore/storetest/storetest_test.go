package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

type (
	tp      = offsetstore.TopicPartition
	offsets = map[offsetstore.TopicPartition]offsetstore.Offset
)

// Each broken store below is memstore with one rule of the contract broken, the way real
// backends get it wrong.

// sentinel answers a missing partition with Kafka's -1 instead of leaving it absent.
type sentinel struct{ offsetstore.Store }

func (s sentinel) Fetch(ctx context.Context, g string, tps []tp) (offsets, error) {
	m, err := s.Store.Fetch(ctx, g, tps)
	for _, k := range tps {
		if _, ok := m[k]; !ok && err == nil {
			m[k] = offsetstore.Offset{Offset: -1, LeaderEpoch: -1}
		}
	}
	return m, err
}

// nilMaps returns a nil map for a group with no offsets.
type nilMaps struct{ offsetstore.Store }

func (s nilMaps) FetchAll(ctx context.Context, g string) (offsets, error) {
	m, err := s.Store.FetchAll(ctx, g)
	if len(m) == 0 {
		return nil, err
	}
	return m, err
}

// mapper rewrites what goes in and out of the store: a lossy encoding of names or values.
type mapper struct {
	offsetstore.Store
	group  func(string) string                         // nil: identity
	topic  func(string) string                         // nil: identity
	offset func(offsetstore.Offset) offsetstore.Offset // applied on Commit; nil: identity
}

func (s mapper) g(g string) string {
	if s.group == nil {
		return g
	}
	return s.group(g)
}

func (s mapper) k(k tp) tp {
	if s.topic != nil {
		k.Topic = s.topic(k.Topic)
	}
	return k
}

func (s mapper) Commit(ctx context.Context, g string, m offsets) error {
	out := offsets{}
	for k, o := range m {
		if s.offset != nil {
			o = s.offset(o)
		}
		out[s.k(k)] = o
	}
	return s.Store.Commit(ctx, s.g(g), out)
}

func (s mapper) Fetch(ctx context.Context, g string, tps []tp) (offsets, error) {
	ask := make([]tp, len(tps))
	for i, k := range tps {
		ask[i] = s.k(k)
	}
	m, err := s.Store.Fetch(ctx, s.g(g), ask)
	if err != nil {
		return nil, err
	}
	out := offsets{}
	for _, k := range tps {
		if o, ok := m[s.k(k)]; ok {
			out[k] = o
		}
	}
	return out, nil
}

func (s mapper) FetchAll(ctx context.Context, g string) (offsets, error) {
	return s.Store.FetchAll(ctx, s.g(g))
}
func (s mapper) DeleteGroup(ctx context.Context, g string) error {
	return s.Store.DeleteGroup(ctx, s.g(g))
}

func (s mapper) Delete(ctx context.Context, g string, tps []tp) error {
	ask := make([]tp, len(tps))
	for i, k := range tps {
		ask[i] = s.k(k)
	}
	return s.Store.Delete(ctx, s.g(g), ask)
}

// keepsMax refuses to move an offset backwards.
type keepsMax struct{ offsetstore.Store }

func (s keepsMax) Commit(ctx context.Context, g string, m offsets) error {
	old, err := s.Store.Fetch(ctx, g, slicesOf(m))
	if err != nil {
		return err
	}
	keep := offsets{}
	for k, o := range m {
		if prev, ok := old[k]; !ok || o.Offset >= prev.Offset {
			keep[k] = o
		}
	}
	return s.Store.Commit(ctx, g, keep)
}

func slicesOf(m offsets) []tp { return offsetstore.SortedPartitions(m) }

// truncated lists at most 1,000 entries, like an unpaginated directory listing.
type truncated struct{ offsetstore.Store }

func (s truncated) FetchAll(ctx context.Context, g string) (offsets, error) {
	m, err := s.Store.FetchAll(ctx, g)
	for _, k := range offsetstore.SortedPartitions(m)[min(1000, len(m)):] {
		delete(m, k)
	}
	return m, err
}

// duplicates lists every group twice.
type duplicates struct{ offsetstore.Store }

func (s duplicates) ListGroups(ctx context.Context) ([]string, error) {
	gs, err := s.Store.ListGroups(ctx)
	return append(gs, gs...), err
}

// tracksGroups lists every group ever passed to Commit, even with nothing stored.
type tracksGroups struct {
	offsetstore.Store
	mu   *sync.Mutex
	seen map[string]bool
}

func (s tracksGroups) Commit(ctx context.Context, g string, m offsets) error {
	err := s.Store.Commit(ctx, g, m)
	if err == nil {
		s.mu.Lock()
		s.seen[g] = true
		s.mu.Unlock()
	}
	return err
}

func (s tracksGroups) ListGroups(ctx context.Context) ([]string, error) {
	if _, err := s.Store.ListGroups(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for g := range s.seen {
		out = append(out, g)
	}
	return out, nil
}

// strictDelete fails to delete a partition that has nothing stored.
type strictDelete struct{ offsetstore.Store }

func (s strictDelete) Delete(ctx context.Context, g string, tps []tp) error {
	m, err := s.Store.Fetch(ctx, g, tps)
	if err != nil {
		return err
	}
	for _, k := range tps {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("no offset for %v", k)
		}
	}
	return s.Store.Delete(ctx, g, tps)
}

// lenientDeleteGroup reports success for a group that has nothing stored.
type lenientDeleteGroup struct{ offsetstore.Store }

func (s lenientDeleteGroup) DeleteGroup(ctx context.Context, g string) error {
	if err := s.Store.DeleteGroup(ctx, g); err != nil && !errors.Is(err, offsetstore.ErrGroupNotFound) {
		return err
	}
	return nil
}

// softDeleteGroup deletes a group's offsets one by one but keeps listing the group.
type softDeleteGroup struct {
	offsetstore.Store
	mu      *sync.Mutex
	deleted map[string]bool
}

func (s softDeleteGroup) DeleteGroup(ctx context.Context, g string) error {
	m, err := s.Store.FetchAll(ctx, g)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(m) == 0 && !s.deleted[g] {
		return &offsetstore.Error{Op: "DeleteGroup", Group: g, Err: offsetstore.ErrGroupNotFound}
	}
	s.deleted[g] = true
	return s.Store.Delete(ctx, g, slicesOf(m))
}

func (s softDeleteGroup) ListGroups(ctx context.Context) ([]string, error) {
	gs, err := s.Store.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := range s.deleted {
		if !strings.Contains(strings.Join(gs, "\x00"), g) {
			gs = append(gs, g)
		}
	}
	return gs, nil
}

// skipsNegative drops negative partitions silently instead of failing with ErrInvalid.
type skipsNegative struct{ offsetstore.Store }

func (s skipsNegative) Commit(ctx context.Context, g string, m offsets) error {
	keep := offsets{}
	for k, o := range m {
		if k.Partition >= 0 {
			keep[k] = o
		}
	}
	return s.Store.Commit(ctx, g, keep)
}

// bareErrors returns the sentinel errors without the *offsetstore.Error around them.
type bareErrors struct{ offsetstore.Store }

func bare(err error) error {
	var serr *offsetstore.Error
	if errors.As(err, &serr) {
		return serr.Err
	}
	return err
}

func (s bareErrors) Commit(ctx context.Context, g string, m offsets) error {
	return bare(s.Store.Commit(ctx, g, m))
}
func (s bareErrors) DeleteGroup(ctx context.Context, g string) error {
	return bare(s.Store.DeleteGroup(ctx, g))
}

// noClose forgets to close.
type noClose struct{ offsetstore.Store }

func (noClose) Close() error { return nil }

// closeOnce fails every Close after the first.
type closeOnce struct {
	offsetstore.Store
	closed *bool
}

func (s closeOnce) Close() error {
	if *s.closed {
		return errors.New("already closed")
	}
	*s.closed = true
	return s.Store.Close()
}

// ignoresContext never looks at the caller's context.
type ignoresContext struct{ offsetstore.Store }

func (s ignoresContext) Commit(_ context.Context, g string, m offsets) error {
	return s.Store.Commit(context.Background(), g, m)
}
func (s ignoresContext) Fetch(_ context.Context, g string, tps []tp) (offsets, error) {
	return s.Store.Fetch(context.Background(), g, tps)
}
func (s ignoresContext) FetchAll(_ context.Context, g string) (offsets, error) {
	return s.Store.FetchAll(context.Background(), g)
}
func (s ignoresContext) Delete(_ context.Context, g string, tps []tp) error {
	return s.Store.Delete(context.Background(), g, tps)
}
func (s ignoresContext) DeleteGroup(_ context.Context, g string) error {
	return s.Store.DeleteGroup(context.Background(), g)
}
func (s ignoresContext) ListGroups(context.Context) ([]string, error) {
	return s.Store.ListGroups(context.Background())
}

// errorsAsAbsent turns every error of a read into "no offsets", like SeaweedFS's FetchOffset.
type errorsAsAbsent struct{ offsetstore.Store }

func (s errorsAsAbsent) Fetch(ctx context.Context, g string, tps []tp) (offsets, error) {
	m, err := s.Store.Fetch(ctx, g, tps)
	if err != nil {
		return offsets{}, nil
	}
	return m, nil
}
func (s errorsAsAbsent) FetchAll(ctx context.Context, g string) (offsets, error) {
	m, err := s.Store.FetchAll(ctx, g)
	if err != nil {
		return offsets{}, nil
	}
	return m, nil
}

// keepsCallerMap remembers the last map committed to each group and answers from it.
type keepsCallerMap struct {
	offsetstore.Store
	mu   *sync.Mutex
	last map[string]offsets
}

func (s keepsCallerMap) Commit(ctx context.Context, g string, m offsets) error {
	if err := s.Store.Commit(ctx, g, m); err != nil {
		return err
	}
	s.mu.Lock()
	s.last[g] = m
	s.mu.Unlock()
	return nil
}

func (s keepsCallerMap) FetchAll(ctx context.Context, g string) (offsets, error) {
	m, err := s.Store.FetchAll(ctx, g)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range m {
		if o, ok := s.last[g][k]; ok {
			m[k] = o
		}
	}
	return m, nil
}

// sharesResults hands every caller of FetchAll the same map until the group changes.
type sharesResults struct {
	offsetstore.Store
	mu    *sync.Mutex
	cache map[string]offsets
}

func (s sharesResults) FetchAll(ctx context.Context, g string) (offsets, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.cache[g]; ok {
		return m, nil
	}
	m, err := s.Store.FetchAll(ctx, g)
	if err == nil {
		s.cache[g] = m
	}
	return m, err
}

func (s sharesResults) forget(g string) {
	s.mu.Lock()
	delete(s.cache, g)
	s.mu.Unlock()
}

func (s sharesResults) Commit(ctx context.Context, g string, m offsets) error {
	defer s.forget(g)
	return s.Store.Commit(ctx, g, m)
}
func (s sharesResults) Delete(ctx context.Context, g string, tps []tp) error {
	defer s.forget(g)
	return s.Store.Delete(ctx, g, tps)
}
func (s sharesResults) DeleteGroup(ctx context.Context, g string) error {
	defer s.forget(g)
	return s.Store.DeleteGroup(ctx, g)
}

// writeBehind applies each Commit only when the next one arrives.
type writeBehind struct {
	offsetstore.Store
	mu      *sync.Mutex
	pending map[string]offsets
}

func (s writeBehind) Commit(ctx context.Context, g string, m offsets) error {
	s.mu.Lock()
	prev := s.pending[g]
	s.pending[g] = maps.Clone(m)
	s.mu.Unlock()
	if prev == nil {
		return ctx.Err()
	}
	return s.Store.Commit(ctx, g, prev)
}

// readModifyWrite commits by reading the whole group, merging and writing it back, without
// a lock: concurrent commits lose each other's updates.
type readModifyWrite struct{ offsetstore.Store }

func (s readModifyWrite) Commit(ctx context.Context, g string, m offsets) error {
	all, err := s.Store.FetchAll(ctx, g)
	if err != nil {
		return err
	}
	time.Sleep(time.Millisecond)
	maps.Copy(all, m)
	return s.Store.Commit(ctx, g, all)
}

// harness adapts a function that opens a store to storetest.Harness.
type harness struct {
	open    func(ctx context.Context) (offsetstore.Store, error)
	durable bool
}

func (h *harness) Open(ctx context.Context) (offsetstore.Store, error) { return h.open(ctx) }
func (h *harness) Durable() bool                                       { return h.durable }
func (h *harness) Close()                                              {}

// fresh returns a harness whose every Open gives a new memstore wrapped by wrap.
func fresh(wrap func(offsetstore.Store) offsetstore.Store) func(context.Context) (storetest.Harness, error) {
	return func(context.Context) (storetest.Harness, error) {
		return &harness{open: func(context.Context) (offsetstore.Store, error) {
			return wrap(memstore.New(memstore.Options{})), nil
		}}, nil
	}
}

// durableMem is a durable harness over memstore: Open reopens the same data, behind a thin
// wrapper that closes without discarding it.
func durableMem(context.Context) (storetest.Harness, error) {
	data := memstore.New(memstore.Options{})
	return &harness{durable: true, open: func(context.Context) (offsetstore.Store, error) {
		return &reopened{Store: data}, nil
	}}, nil
}

// reopened is one opening of durableMem's data: Close closes this opening, not the data.
type reopened struct {
	offsetstore.Store
	mu     sync.RWMutex
	closed bool
}

func (r *reopened) check(op, g string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return &offsetstore.Error{Op: op, Group: g, Err: offsetstore.ErrClosed}
	}
	return nil
}

func (r *reopened) Commit(ctx context.Context, g string, m offsets) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.check("Commit", g); err != nil {
		return err
	}
	return r.Store.Commit(ctx, g, m)
}
func (r *reopened) Fetch(ctx context.Context, g string, tps []tp) (offsets, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.check("Fetch", g); err != nil {
		return nil, err
	}
	return r.Store.Fetch(ctx, g, tps)
}
func (r *reopened) FetchAll(ctx context.Context, g string) (offsets, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.check("FetchAll", g); err != nil {
		return nil, err
	}
	return r.Store.FetchAll(ctx, g)
}
func (r *reopened) Delete(ctx context.Context, g string, tps []tp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.check("Delete", g); err != nil {
		return err
	}
	return r.Store.Delete(ctx, g, tps)
}
func (r *reopened) DeleteGroup(ctx context.Context, g string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.check("DeleteGroup", g); err != nil {
		return err
	}
	return r.Store.DeleteGroup(ctx, g)
}
func (r *reopened) ListGroups(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.check("ListGroups", ""); err != nil {
		return nil, err
	}
	return r.Store.ListGroups(ctx)
}
func (r *reopened) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// expireAll is an Expirer that asks its predicate but deletes every offset of the group,
// the way a sweep that trusts a stale listing does.
type expireAll struct{ *memstore.Store }

func (s expireAll) ExpireOffsets(ctx context.Context, g string, expired func(tp, offsetstore.Offset) bool) (offsets, error) {
	return s.Store.ExpireOffsets(ctx, g, func(k tp, o offsetstore.Offset) bool { expired(k, o); return true })
}

// overwriter is an Inserter whose CommitIfAbsent overwrites what is stored.
type overwriter struct{ *memstore.Store }

func (s overwriter) CommitIfAbsent(ctx context.Context, g string, m offsets) error {
	return s.Store.Commit(ctx, g, m)
}

// staleFlags is a FetchIntoer that writes only the partitions it finds, leaving whatever the
// caller's slices held for the others, the way a loop over a group's stored offsets does.
type staleFlags struct{ *memstore.Store }

func (s staleFlags) FetchInto(ctx context.Context, g string, req []tp, dst []offsetstore.Offset, found []bool) error {
	if len(dst) < len(req) || len(found) < len(req) {
		return &offsetstore.Error{Op: "FetchInto", Group: g, Err: offsetstore.ErrInvalid}
	}
	m, err := s.Store.Fetch(ctx, g, req)
	if err != nil {
		return err
	}
	for i, p := range req {
		if o, ok := m[p]; ok {
			dst[i], found[i] = o, true
		}
	}
	return nil
}

// firstWins is a SliceCommitter that stores the first of a repeated partition's offsets, the
// way a store that skips keys it has already seen in the batch does.
type firstWins struct{ *memstore.Store }

func (s firstWins) CommitSlice(ctx context.Context, g string, ps []tp, os []offsetstore.Offset) error {
	if len(ps) != len(os) {
		return &offsetstore.Error{Op: "CommitSlice", Group: g, Err: offsetstore.ErrInvalid}
	}
	m := offsets{}
	for i, p := range ps {
		if _, seen := m[p]; !seen {
			m[p] = os[i]
		}
	}
	return s.Store.Commit(ctx, g, m)
}

var broken = []struct {
	name     string
	caughtBy string   // the rule that must report it
	only     []string // the rules to run; nil runs all (only for stores that are race-free)
	harness  func(context.Context) (storetest.Harness, error)
}{
	{"expires offsets its predicate kept", "Expirer", []string{"Expirer"}, fresh(func(s offsetstore.Store) offsetstore.Store { return expireAll{s.(*memstore.Store)} })},
	{"CommitIfAbsent overwrites stored offsets", "Inserter", []string{"Inserter"}, fresh(func(s offsetstore.Store) offsetstore.Store { return overwriter{s.(*memstore.Store)} })},
	{"FetchInto leaves absent partitions as the caller's slices had them", "FetchIntoer", []string{"FetchIntoer"}, fresh(func(s offsetstore.Store) offsetstore.Store { return staleFlags{s.(*memstore.Store)} })},
	{"CommitSlice keeps the first offset of a repeated partition", "SliceCommitter", []string{"SliceCommitter"}, fresh(func(s offsetstore.Store) offsetstore.Store { return firstWins{s.(*memstore.Store)} })},
	{"returns -1 for a missing partition", "Absent", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return sentinel{s} })},
	{"returns a nil map for an empty group", "Absent", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return nilMaps{s} })},
	{"lists every group ever committed to", "Absent", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return tracksGroups{s, &sync.Mutex{}, map[string]bool{}}
	})},
	{"drops the leader epoch", "RoundTrip", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, offset: func(o offsetstore.Offset) offsetstore.Offset { o.LeaderEpoch = 0; return o }}
	})},
	{"keeps times to the second", "RoundTrip", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, offset: func(o offsetstore.Offset) offsetstore.Offset {
			o.CommitTime = o.CommitTime.Truncate(time.Second)
			return o
		}}
	})},
	{"loses the expire time", "RoundTrip", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, offset: func(o offsetstore.Offset) offsetstore.Offset { o.ExpireTime = time.Time{}; return o }}
	})},
	{"mangles metadata that is not UTF-8, as encoding/json does", "RoundTrip", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, offset: func(o offsetstore.Offset) offsetstore.Offset {
			o.Metadata = strings.ToValidUTF8(o.Metadata, "\uFFFD")
			return o
		}}
	})},
	{"truncates metadata to 1 KiB", "RoundTrip", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, offset: func(o offsetstore.Offset) offsetstore.Offset {
			o.Metadata = o.Metadata[:min(len(o.Metadata), 1024)]
			return o
		}}
	})},
	{"refuses to move an offset backwards", "LastWriterWins", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return keepsMax{s} })},
	{"lists at most 1,000 offsets", "FetchAllLarge", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return truncated{s} })},
	{`escapes "/" in group ids as "_"`, "HostileNames", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, group: func(g string) string { return strings.ReplaceAll(g, "/", "_") }}
	})},
	{"cleans group ids like file paths", "HostileNames", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, group: func(g string) string {
			g = strings.Trim(strings.ReplaceAll(g, "//", "/"), "/")
			if g == "." || g == ".." {
				return ""
			}
			return g
		}}
	})},
	{"folds case in group ids", "HostileNames", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, group: strings.ToLower}
	})},
	{"decodes percent escapes in topic names", "HostileNames", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return mapper{Store: s, topic: func(t string) string { return strings.ReplaceAll(t, "%2F", "/") }}
	})},
	{"lists every group twice", "ListGroups", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return duplicates{s} })},
	{"fails to delete a partition with nothing stored", "DeleteAbsent", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return strictDelete{s} })},
	{"deletes a missing group without ErrGroupNotFound", "DeleteGroup", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return lenientDeleteGroup{s} })},
	{"keeps listing a deleted group", "DeleteGroup", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return softDeleteGroup{s, &sync.Mutex{}, map[string]bool{}}
	})},
	{"skips negative partitions", "InvalidPartition", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return skipsNegative{s} })},
	{"returns bare sentinel errors", "ErrorType", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return bareErrors{s} })},
	{"works after Close", "Closed", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return noClose{s} })},
	{"fails a second Close", "Closed", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return closeOnce{s, new(bool)} })},
	{"ignores the context", "Context", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return ignoresContext{s} })},
	{"turns read errors into absent offsets", "Context", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return errorsAsAbsent{s} })},
	{"turns read errors into absent offsets (closed)", "Closed", nil, fresh(func(s offsetstore.Store) offsetstore.Store { return errorsAsAbsent{s} })},
	{"keeps the caller's map", "NoAliasing", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return keepsCallerMap{s, &sync.Mutex{}, map[string]offsets{}}
	})},
	{"shares FetchAll results between callers", "NoAliasing", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return sharesResults{s, &sync.Mutex{}, map[string]offsets{}}
	})},
	{"applies a commit only when the next arrives", "ReadYourWrites", nil, fresh(func(s offsetstore.Store) offsetstore.Store {
		return writeBehind{s, &sync.Mutex{}, map[string]offsets{}}
	})},
	{"loses concurrent updates", "Concurrency", []string{"Concurrency"}, fresh(func(s offsetstore.Store) offsetstore.Store { return readModifyWrite{s} })},
	{"claims durability but forgets on reopen", "Durability", nil, func(context.Context) (storetest.Harness, error) {
		return &harness{durable: true, open: func(context.Context) (offsetstore.Store, error) {
			return memstore.New(memstore.Options{}), nil
		}}, nil
	}},
	{"cannot reopen", "Durability", nil, func(context.Context) (storetest.Harness, error) {
		opened := false
		return &harness{open: func(context.Context) (offsetstore.Store, error) {
			if opened {
				return nil, errors.New("namespace is locked")
			}
			opened = true
			return memstore.New(memstore.Options{}), nil
		}}, nil
	}},
}

// brokenStore is a store that breaks a rule, and the rule that catches it.
type brokenStore struct {
	name     string
	caughtBy string   // the rule that must report it
	only     []string // the rules to run; nil runs all (only for stores that are race-free)
	harness  func(context.Context) (storetest.Harness, error)
}

// allBroken returns every broken store: those of the Store contract, then those of Fencer,
// each run on its rule alone.
func allBroken() []brokenStore {
	out := make([]brokenStore, 0, len(broken)+len(fenceBroken))
	for _, b := range broken {
		out = append(out, brokenStore(b))
	}
	for _, b := range fenceBroken {
		out = append(out, brokenStore{name: b.name, caughtBy: b.caughtBy, only: []string{b.caughtBy}, harness: b.harness})
	}
	return out
}

// violated returns the rules that err reports violations of.
func violated(err error) map[string][]*storetest.Violation {
	out := map[string][]*storetest.Violation{}
	var walk func(error)
	walk = func(err error) {
		if v, ok := err.(*storetest.Violation); ok {
			out[v.Rule] = append(out[v.Rule], v)
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func TestBrokenStoresAreCaught(t *testing.T) {
	docs := map[string]string{}
	for _, r := range storetest.Rules() {
		docs[r.Name] = r.Doc
	}
	for _, tt := range allBroken() {
		t.Run(tt.name, func(t *testing.T) {
			err := storetest.TestHarness(t.Context(), tt.harness, tt.only...)
			got := violated(err)
			vs := got[tt.caughtBy]
			if len(vs) == 0 {
				t.Fatalf("rule %s did not catch the store; all violations:\n%v", tt.caughtBy, err)
			}
			for _, v := range vs {
				if v.Doc != docs[tt.caughtBy] || !strings.Contains(v.Error(), tt.caughtBy) || !strings.Contains(v.Error(), v.Doc) {
					t.Errorf("violation does not state its rule: %q", v.Error())
				}
			}
			t.Logf("caught by %s: %v", tt.caughtBy, vs[0].Detail)
		})
	}
}

// TestEveryRuleIsTested checks that each rule of the suite has a broken store it catches.
func TestEveryRuleIsTested(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range storetest.Rules() {
		if r.Name == "" || r.Doc == "" || seen[r.Name] {
			t.Errorf("rule %q: want a unique name and a doc", r.Name)
		}
		seen[r.Name] = true
	}
	caught := map[string]bool{}
	for _, tt := range allBroken() {
		if !seen[tt.caughtBy] {
			t.Errorf("broken store %q names rule %q, which does not exist", tt.name, tt.caughtBy)
		}
		caught[tt.caughtBy] = true
	}
	for name := range seen {
		if !caught[name] {
			t.Errorf("rule %s has no broken store that it is shown to catch", name)
		}
	}
}

// TestDocListsEveryRule keeps the package documentation's list of rules complete.
func TestDocListsEveryRule(t *testing.T) {
	src, err := os.ReadFile("storetest.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package storetest")
	for _, r := range storetest.Rules() {
		if !strings.Contains(doc, " "+r.Name) {
			t.Errorf("the package doc does not list rule %s", r.Name)
		}
	}
}

func TestMemstorePasses(t *testing.T) {
	open := func(context.Context) (offsetstore.Store, error) { return memstore.New(memstore.Options{}), nil }
	if err := storetest.TestStore(t.Context(), open); err != nil {
		t.Fatal(err)
	}
	if err := storetest.TestHarness(t.Context(), durableMem); err != nil {
		t.Fatalf("durable harness: %v", err)
	}
}

// TestRun drives the suite through Run, with a durable harness, as a backend's test does.
func TestRun(t *testing.T) {
	storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
		return durableMem(ctx)
	})
}

func TestUnknownRule(t *testing.T) {
	open := func(context.Context) (offsetstore.Store, error) { return memstore.New(memstore.Options{}), nil }
	err := storetest.TestStore(t.Context(), open, "Absent", "NoSuchRule")
	if err == nil || !strings.Contains(err.Error(), "NoSuchRule") {
		t.Fatalf("TestStore with an unknown rule = %v; want an error naming it", err)
	}
	if len(violated(err)) != 0 {
		t.Fatalf("memstore violated rules: %v", err)
	}
}

func TestHarnessError(t *testing.T) {
	err := storetest.TestHarness(t.Context(), func(context.Context) (storetest.Harness, error) {
		return nil, errors.New("no filer")
	}, "Absent")
	if err == nil || !strings.Contains(err.Error(), "no filer") {
		t.Fatalf("TestHarness with a failing harness = %v; want its error", err)
	}
}

// TestRunReportsViolations runs Run on a broken store in a child process (a failing subtest
// would fail this test otherwise) and checks that the rule's subtest, and only it, fails
// with a message that states the rule.
func TestRunReportsViolations(t *testing.T) {
	if os.Getenv("STORETEST_CHILD") == "1" {
		storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
			return fresh(func(s offsetstore.Store) offsetstore.Store { return noClose{s} })(ctx)
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunReportsViolations$", "-test.v")
	cmd.Env = append(os.Environ(), "STORETEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("Run passed a store that works after Close:\n%s", out)
	}
	var closedDoc string
	for _, r := range storetest.Rules() {
		if r.Name == "Closed" {
			closedDoc = r.Doc
		}
	}
	for _, want := range []string{"--- FAIL: TestRunReportsViolations/Closed", "--- PASS: TestRunReportsViolations/RoundTrip", closedDoc} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
