package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/offsetkit/offsetkit/offsetstore"
)

const (
	concWriters = 32 // goroutines in the concurrency check
	concOps     = 24 // calls each goroutine makes, besides its final commit and read
	seqBits     = 20 // an offset written by the check is writer<<seqBits | seq
)

// concValue is the offset that writer w writes in its step seq: every field derives from
// (w, seq), so a value read back that mixes two writes is detected.
func concValue(w, seq int) offsetstore.Offset {
	return offsetstore.Offset{
		Offset:      int64(w)<<seqBits | int64(seq),
		LeaderEpoch: int32(w),
		Metadata:    fmt.Sprintf("writer %d step %d", w, seq),
		CommitTime:  ms(w*1000 + seq),
	}
}

// concState is what the goroutines of the concurrency check share.
type concState struct {
	mu       sync.Mutex
	intended map[concKey]bool // every value some writer committed or was committing
	problems []string
}

type concKey struct {
	group  string
	tp     tp
	offset int64
}

func (st *concState) intend(group string, m offsets) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, o := range m {
		st.intended[concKey{group, k, o.Offset}] = true
	}
}

func (st *concState) problem(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.problems = append(st.problems, fmt.Sprintf(format, args...))
}

// checkRead reports a value read that is torn or that nobody wrote to that partition.
func (st *concState) checkRead(what, group string, k tp, o offsetstore.Offset) {
	w, seq := int(o.Offset>>seqBits), int(o.Offset&(1<<seqBits-1))
	if w < 0 || w >= concWriters || seq < 1 || seq > concOps+1 || diff(o, offsetstore.Normalize(concValue(w, seq))) != "" {
		st.problem("%s: partition %s holds %s, which no writer wrote (a torn or invented value)", what, tpString(k), describe(o))
		return
	}
	st.mu.Lock()
	known := st.intended[concKey{group, k, o.Offset}]
	st.mu.Unlock()
	if !known {
		st.problem("%s: partition %s holds %s, which writer %d wrote to another partition or group", what, tpString(k), describe(o), w)
	}
}

func checkConcurrency(ctx context.Context, c *checker, h Harness) {
	s, ok := c.open(ctx, h)
	if !ok {
		return
	}
	const shared, churn = "conc", "conc-churn"
	var sharedTPs []tp
	for t := range 2 {
		for p := range 4 {
			sharedTPs = append(sharedTPs, part(fmt.Sprintf("c%d", t), int32(p)))
		}
	}
	own := func(w int) tp { return part("own", int32(w)) } // written only by writer w
	st := &concState{intended: map[concKey]bool{}}
	final := make([]offsetstore.Offset, concWriters)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range concWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 0x5eed))
			var last *offsetstore.Offset // the latest value of own(w)
			checkOwn := func(what string, m offsets) {
				got, ok := m[own(w)]
				switch {
				case last == nil && ok:
					st.problem("%s by writer %d: its own partition holds %s before it wrote it", what, w, describe(got))
				case last != nil && !ok:
					st.problem("%s by writer %d: its own partition is missing; it wrote %s", what, w, describe(*last))
				case last != nil && diff(got, offsetstore.Normalize(*last)) != "":
					st.problem("%s by writer %d: its own partition: %s", what, w, diff(got, offsetstore.Normalize(*last)))
				}
			}
			commitOwn := func(seq int) bool {
				v := concValue(w, seq)
				m := offsets{own(w): v}
				st.intend(shared, m)
				if err := s.Commit(ctx, shared, m); err != nil {
					st.problem("writer %d: Commit of its own partition: %v", w, err)
					return false
				}
				last = &v
				got, err := s.Fetch(ctx, shared, []tp{own(w)})
				if err != nil {
					st.problem("writer %d: Fetch of its own partition: %v", w, err)
					return false
				}
				checkOwn("Fetch right after Commit", got)
				return true
			}
			<-start
			for seq := 1; seq <= concOps; seq++ {
				switch op := rng.IntN(10); {
				case op < 3: // commit to shared partitions
					m := offsets{}
					for range 1 + rng.IntN(3) {
						m[sharedTPs[rng.IntN(len(sharedTPs))]] = concValue(w, seq)
					}
					st.intend(shared, m)
					if err := s.Commit(ctx, shared, m); err != nil {
						st.problem("writer %d: Commit of %d shared partitions: %v", w, len(m), err)
						return
					}
				case op < 5:
					if !commitOwn(seq) {
						return
					}
				case op < 7: // fetch shared partitions and its own
					ask := []tp{own(w)}
					for range 4 {
						ask = append(ask, sharedTPs[rng.IntN(len(sharedTPs))])
					}
					m, err := s.Fetch(ctx, shared, ask)
					if err != nil {
						st.problem("writer %d: Fetch: %v", w, err)
						return
					}
					for k, o := range m {
						st.checkRead("Fetch", shared, k, o)
					}
					checkOwn("Fetch", m)
				case op < 8:
					m, err := s.FetchAll(ctx, shared)
					if err != nil {
						st.problem("writer %d: FetchAll: %v", w, err)
						return
					}
					for k, o := range m {
						st.checkRead("FetchAll", shared, k, o)
					}
					checkOwn("FetchAll", m)
				case op < 9:
					if err := s.Delete(ctx, shared, []tp{sharedTPs[rng.IntN(len(sharedTPs))]}); err != nil {
						st.problem("writer %d: Delete of a shared partition: %v", w, err)
						return
					}
				default: // a group that comes and goes
					if rng.IntN(2) == 0 {
						m := offsets{part("churn", int32(w%4)): concValue(w, seq)}
						st.intend(churn, m)
						if err := s.Commit(ctx, churn, m); err != nil {
							st.problem("writer %d: Commit to %q: %v", w, churn, err)
							return
						}
					} else if err := s.DeleteGroup(ctx, churn); err != nil && !errors.Is(err, offsetstore.ErrGroupNotFound) {
						st.problem("writer %d: DeleteGroup(%q): %v", w, churn, err)
						return
					}
					gs, err := s.ListGroups(ctx)
					if err != nil {
						st.problem("writer %d: ListGroups: %v", w, err)
						return
					}
					seen := map[string]bool{}
					for _, g := range gs {
						if seen[g] || (g != shared && g != churn) {
							st.problem("writer %d: ListGroups = %q: a duplicate or a group nobody wrote", w, gs)
							break
						}
						seen[g] = true
					}
				}
			}
			if commitOwn(concOps + 1) {
				final[w] = *last
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, p := range st.problems {
		c.errorf("%s", p)
	}
	st.problems = nil
	if c.failed() {
		return
	}
	m, ok := c.fetchAll(ctx, s, shared)
	if !ok {
		return
	}
	for w := range concWriters {
		got, ok := m[own(w)]
		if !ok {
			c.errorf("final FetchAll(group %q): writer %d's own partition is missing; its last write was %s", shared, w, describe(final[w]))
		} else if d := diff(got, offsetstore.Normalize(final[w])); d != "" {
			c.errorf("final FetchAll(group %q): writer %d's own partition: %s (its last write)", shared, w, d)
		}
	}
	for k, o := range m {
		st.checkRead("final FetchAll", shared, k, o)
	}
	if m, ok := c.fetchAll(ctx, s, churn); ok {
		for k, o := range m {
			st.checkRead("final FetchAll", churn, k, o)
		}
	}
	for _, p := range st.problems {
		c.errorf("%s", p)
	}
}
