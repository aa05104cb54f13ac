// Package retention expires committed offsets the way Apache Kafka does
// (offsets.retention.minutes, KIP-186 and KIP-211), for any offsetstore.Store that implements
// the optional offsetstore.Expirer capability.
//
// Which offsets may expire depends on the group's state, which only the gateway's group
// coordinator knows; it answers through the [GroupActivity] hook. The rules, per group:
//
//   - A group the coordinator does not know (a "simple" group, made only by offset commits)
//     or one without a protocol type: each offset expires Retention after its commit time.
//   - An Empty group with a protocol type: offsets expire Retention after the group became
//     Empty (the commit time when that moment is unknown). Commits made while Empty do not
//     restart the clock.
//   - A Stable consumer group whose subscriptions are known: only offsets of topics it is not
//     subscribed to expire, Retention after their commit time.
//   - Any other state (rebalancing, unknown subscriptions): nothing expires.
//
// An offset with an explicit ExpireTime (OffsetCommit v2-v4 retention_time_ms) expires when
// the clock reaches it, instead of by the rule above, but only where the group's state lets
// offsets expire at all.
//
// A [Sweeper] runs a pass every Interval in a goroutine that Close stops; [Sweeper.Sweep] runs
// one pass on demand, for tests and for gateways that schedule their own work.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Kafka's defaults: offsets.retention.minutes and offsets.retention.check.interval.ms.
const (
	DefaultRetention = 7 * 24 * time.Hour
	DefaultInterval  = 10 * time.Minute
)

// State is a group's state as far as offset expiry is concerned.
type State int8

// Group states, from the expiry rules in the package documentation.
const (
	// StateSimple is a group the coordinator does not know, or one without a protocol type:
	// offsets expire by commit time.
	StateSimple State = iota
	// StateEmpty is an Empty group with a protocol type: offsets expire by the time the group
	// became empty (Activity.EmptySince).
	StateEmpty
	// StateStable is a Stable consumer group whose subscriptions are known
	// (Activity.Subscribed): only offsets of unsubscribed topics expire, by commit time.
	StateStable
	// StateActive is any other live state: nothing expires.
	StateActive
)

// Activity is the coordinator's answer about one group.
type Activity struct {
	State State
	// EmptySince is when a StateEmpty group became empty; zero if unknown.
	EmptySince time.Time
	// Subscribed are the topics a StateStable group consumes.
	Subscribed []string

	// Fenced makes the sweep's deletion of the group's offsets conditional on the group's
	// fence still being Fence when the store applies it (offsetstore.Fencer), so that a group
	// that changed after this answer (joined, became Stable and subscribed) loses nothing:
	// a coordinator moves the fence when the facts of this answer change. The sweep then
	// skips the group for this pass. Ignored over a store that is not an offsetstore.Fencer.
	Fenced bool
	// Fence is the group's fence epoch this answer was given under; see Fenced.
	Fence int64
	// Done, when not nil, is called exactly once when the sweep is finished with the group's
	// offsets, with the deletion's error (nil when it succeeded or deleted nothing). A
	// coordinator without a fencing store uses it to hold a change of the group's state
	// until the deletion made under the old state has returned.
	Done func(err error)
}

// GroupActivity is the hook through which the gateway's coordinator reports a group's state.
// It must be safe for concurrent use. An error skips the group for this pass.
type GroupActivity interface {
	GroupActivity(ctx context.Context, group string) (Activity, error)
}

// GroupActivityFunc adapts a function to a GroupActivity.
type GroupActivityFunc func(ctx context.Context, group string) (Activity, error)

// GroupActivity calls f(ctx, group).
func (f GroupActivityFunc) GroupActivity(ctx context.Context, group string) (Activity, error) {
	return f(ctx, group)
}

// Options configure a Sweeper. The zero value applies Kafka's defaults.
type Options struct {
	// Retention is offsets.retention.minutes; 0 means DefaultRetention (7 days).
	Retention time.Duration
	// Interval is the time between passes; 0 means DefaultInterval (10 minutes).
	Interval time.Duration
	// Groups reports group states; nil treats every group as StateSimple.
	Groups GroupActivity
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per pass and per failure; nil discards.
	Logger *slog.Logger
	// OnExpire, if set, is called after offsets of a group expire, with what was removed and
	// whether the group has nothing left (so the coordinator may forget an Empty group).
	OnExpire func(group string, expired map[offsetstore.TopicPartition]offsetstore.Offset, groupEmpty bool)
}

// Stats summarise one pass.
type Stats struct {
	Groups  int // groups examined
	Expired int // offsets removed
	Failed  int // groups skipped because the hook or the store failed
}

// ErrUnsupported is returned by New for a store that does not implement offsetstore.Expirer.
// It matches errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("retention: store does not implement offsetstore.Expirer: %w", errors.ErrUnsupported)

// Sweeper expires offsets of one store. It is safe for concurrent use.
type Sweeper struct {
	store   offsetstore.Store
	expirer offsetstore.Expirer
	opts    Options

	pass sync.Mutex // serialises passes

	life    sync.Mutex // guards the fields below
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Sweeper for store, which must implement offsetstore.Expirer (otherwise the
// error matches ErrUnsupported and the caller runs without expiry, keeping every offset).
// The Sweeper does not run until Start.
func New(store offsetstore.Store, opts Options) (*Sweeper, error) {
	ex, ok := store.(offsetstore.Expirer)
	if !ok {
		return nil, ErrUnsupported
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{store: store, expirer: ex, opts: opts, done: make(chan struct{})}, nil
}

// Start runs a pass every Interval in a background goroutine until Close is called or ctx is
// done. Calling Start more than once, or after Close, does nothing.
func (s *Sweeper) Start(ctx context.Context) {
	s.life.Lock()
	defer s.life.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	go s.loop(ctx)
}

func (s *Sweeper) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := s.Sweep(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.opts.Logger.Warn("offset retention pass failed", "err", err)
				}
				continue
			}
			s.opts.Logger.Debug("offset retention pass", "groups", st.Groups, "expired", st.Expired, "failed", st.Failed)
		}
	}
}

// Close stops the background goroutine, cancelling a pass in progress, and waits for it to
// return. It is idempotent. It does not close the store.
func (s *Sweeper) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	if started {
		s.cancel()
	}
	s.life.Unlock()
	if started {
		<-s.done
	}
	return nil
}

// Sweep runs one pass over every group of the store. It returns an error only when the store
// cannot list its groups; failures of single groups are counted in Stats.Failed and logged.
func (s *Sweeper) Sweep(ctx context.Context) (Stats, error) {
	s.pass.Lock()
	defer s.pass.Unlock()
	var st Stats
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return st, err
	}
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Groups++
		n, err := s.sweepGroup(ctx, g)
		st.Expired += n
		if err != nil {
			st.Failed++
			s.opts.Logger.Warn("offset retention: group skipped", "group", g, "err", err)
		}
	}
	return st, nil
}

func (s *Sweeper) sweepGroup(ctx context.Context, group string) (int, error) {
	act := Activity{State: StateSimple}
	if s.opts.Groups != nil {
		a, err := s.opts.Groups.GroupActivity(ctx, group)
		if err != nil {
			return 0, err
		}
		act = a
	}
	if act.State == StateActive {
		if act.Done != nil {
			act.Done(nil)
		}
		return 0, nil
	}
	now := s.opts.Now()
	rule := Rule{Retention: s.opts.Retention, Activity: act}
	pred := func(tp offsetstore.TopicPartition, o offsetstore.Offset) bool {
		return rule.Expired(now, tp, o)
	}
	var expired map[offsetstore.TopicPartition]offsetstore.Offset
	var err error
	if f, ok := s.store.(offsetstore.Fencer); ok && act.Fenced {
		expired, err = f.ExpireOffsetsFenced(ctx, group, act.Fence, pred)
	} else {
		expired, err = s.expirer.ExpireOffsets(ctx, group, pred)
	}
	if act.Done != nil {
		act.Done(err)
	}
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, offsetstore.ErrFenced) {
			// Unsupported: the store cannot expire this group. Fenced: the group changed
			// after its state was read; the next pass looks again.
			return 0, nil
		}
		return len(expired), err
	}
	if len(expired) > 0 && s.opts.OnExpire != nil {
		left, err := s.store.FetchAll(ctx, group)
		s.opts.OnExpire(group, expired, err == nil && len(left) == 0)
	}
	return len(expired), nil
}

// Rule is the expiry test for the offsets of one group, exported so a gateway can apply the
// same rule elsewhere (for example when it answers an admin request).
type Rule struct {
	Retention time.Duration
	Activity  Activity
}

// Expired reports whether offset o of partition tp has expired at now.
func (r Rule) Expired(now time.Time, tp offsetstore.TopicPartition, o offsetstore.Offset) bool {
	var base time.Time
	switch r.Activity.State {
	case StateSimple:
		base = o.CommitTime
	case StateEmpty:
		base = r.Activity.EmptySince
		if base.IsZero() {
			base = o.CommitTime
		}
	case StateStable:
		for _, t := range r.Activity.Subscribed {
			if t == tp.Topic {
				return false
			}
		}
		base = o.CommitTime
	default:
		return false
	}
	if !o.ExpireTime.IsZero() {
		return !now.Before(o.ExpireTime)
	}
	if base.IsZero() {
		// An offset with no known commit time is kept: expiring it on a guess could lose an
		// offset the group still needs.
		return false
	}
	return now.Sub(base) >= r.Retention
}
