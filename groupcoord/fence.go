package groupcoord

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/twmb/franz-go/pkg/kerr"
)

// This file keeps each group's writes from losing a race with the group's changes, the way
// Kafka's coordinator does by checking and appending in one step on the group's shard.
//
// Over a store that implements offsetstore.Fencer, every acceptance the coordinator gives
// (an offset commit, an offset delete, a retention sweep) carries the group's fence epoch, and
// the store applies the write only while the epoch is unchanged. The coordinator moves the
// fence, saving the group's durable state with it, whenever what it accepted writes on
// changes: a new generation, a group that became Stable or Empty, a deleted group, a write
// that failed (it may still land later), and once for each group before the first acceptance
// after the coordinator starts (a write of a previous process may still be travelling). A
// write accepted before a change therefore either lands before the change's fence move or not
// at all; the protocol Handler then asks again and the client gets the answer a request made
// after the change gets.
//
// Writes of one group also reach the store in the order they were accepted: an acceptance
// under the same fence as a write still in the store waits until that write ends (within the
// request's context), as Kafka appends a group's records in the order it accepted them. A
// write the client gave up on can therefore not land after a newer one that was
// acknowledged: when it ends with an error, it may still land, so the fence moves first.
// Writes accepted under an older fence need no waiting: the store refuses them once the
// fence has moved.
//
// Over a store without fences the coordinator serializes instead: a join phase does not
// complete while a write accepted under the old generation is still in the store call (the
// Handler reports its end through GroupResult.Done), which is safe with a store whose calls,
// once returned, never apply later (memstore). Group state then lives only in memory.

// gfence is the coordinator's view of one group's fence, for every group it has accepted a
// write for, whether or not it holds members of it.
type gfence struct {
	epoch   int64         // the epoch acceptances carry
	ready   bool          // epoch was moved past every earlier write and nothing changed since
	busy    chan struct{} // non-nil while a goroutine moves the fence; closed when it is done
	current int           // acceptances under epoch whose Done has not been called yet
	idle    chan struct{} // non-nil while an acceptance waits for current to reach 0
	changes uint64        // state changes to save; the fence is ready when saved == changes
	saved   uint64
	cleared bool // the group was deleted: its durable state is the zero state
}

// errFenceTimeout is returned while waiting for a group's fence to move takes longer than the
// caller's context allows: the request is answered with a retriable coordinator error.
var errFenceTimeout = errors.New("groupcoord: the group's fence is still moving")

// errWriteTimeout is returned when waiting for the group's previous write takes longer than
// the caller's context allows: the request is answered with a retriable coordinator error.
var errWriteTimeout = errors.New("groupcoord: the group's previous write is still in the store")

// fenceLocked returns the fence record of group id, creating it. c.mu is held.
func (c *Coordinator) fenceLocked(id string) *gfence {
	f := c.fences[id]
	if f == nil {
		f = &gfence{}
		c.fences[id] = f
	}
	return f
}

// changed records that group g changed in a way writes were accepted on, or that its durable
// state changed: acceptances wait until the fence has moved and the state is saved. Over a
// fencing store the save starts at once in the background. c.mu is held.
func (c *Coordinator) changed(g *group) {
	f := c.fenceLocked(g.id)
	f.cleared = false
	if c.fencer == nil {
		return
	}
	f.ready = false
	f.changes++
	if f.busy == nil {
		c.startMove(g.id, f)
	}
}

// readyLocked waits until group id's fence can be handed out, moving it when needed, and
// returns it. c.mu is held on entry and on return, released while waiting. Without a fencing
// store it returns the record at once.
func (c *Coordinator) readyLocked(ctx context.Context, id string) (*gfence, error) {
	for {
		if c.closed {
			return nil, kerr.CoordinatorNotAvailable
		}
		f := c.fenceLocked(id)
		if c.fencer == nil || f.ready {
			return f, nil
		}
		if f.busy == nil {
			c.startMove(id, f)
		}
		busy := f.busy
		c.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			c.mu.Lock()
			return nil, fmt.Errorf("%w: %w", errFenceTimeout, ctx.Err())
		}
		c.mu.Lock()
		if f.busy == nil && !f.ready && f.saved == f.changes && c.fences[id] == f {
			// The move failed; report it rather than retrying in a loop.
			return nil, fmt.Errorf("groupcoord: moving the fence of group %q failed", id)
		}
	}
}

// startMove starts moving group id's fence forward in the background, saving the group's state
// with it. c.mu is held.
func (c *Coordinator) startMove(id string, f *gfence) {
	f.busy = make(chan struct{})
	c.wg.Add(1)
	go c.move(id, f)
}

// move saves the current state of group id with its fence moved forward, until what it saved
// is the latest change, then marks the fence ready. A failure leaves the fence not ready: the
// next acceptance tries again.
func (c *Coordinator) move(id string, f *gfence) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, storeCheckTimeout)
	defer cancel()
	c.mu.Lock()
	defer func() {
		close(f.busy)
		f.busy = nil
		c.mu.Unlock()
	}()
	loaded := false
	var stored offsetstore.GroupState
	for !c.closed {
		if !loaded {
			// The epoch stored may be ahead of ours: another process (this gateway before a
			// restart, or another owner of the group) moved it.
			c.mu.Unlock()
			st, err := c.fencer.GroupState(ctx, id)
			c.mu.Lock()
			if err != nil {
				c.log.Warn("reading a group's fence failed", "group", id, "err", err)
				f.saved = f.changes
				return
			}
			c.setEpoch(f, max(f.epoch, st.Fence))
			stored = st
			loaded = true
		}
		changes := f.changes
		st, ok := c.durableLocked(id)
		if f.cleared {
			st, ok = offsetstore.GroupState{}, true
		}
		if !ok {
			st = stored // a group the coordinator holds no state of keeps what the store has
		}
		prev := f.epoch
		st.Fence = prev + 1
		c.mu.Unlock()
		err := c.fencer.SaveGroupState(ctx, id, prev, st)
		c.mu.Lock()
		switch {
		case errors.Is(err, offsetstore.ErrFenced):
			loaded = false // somebody else moved it: read it again and move past it
			continue
		case err != nil:
			c.log.Warn("moving a group's fence failed", "group", id, "err", err)
			f.saved = f.changes
			return
		}
		c.setEpoch(f, st.Fence)
		f.saved = changes
		if changes == f.changes {
			f.ready = true
			return
		}
	}
}

// durableLocked is what the store keeps of group id: its protocol type and generation, whether
// it is Empty and since when, and the topics its generation subscribed to. ok is false for a
// group the coordinator does not hold, whose stored state stays as it is. c.mu is held.
func (c *Coordinator) durableLocked(id string) (st offsetstore.GroupState, ok bool) {
	g := c.groups[id]
	switch {
	case g == nil:
		return offsetstore.GroupState{}, false
	case g.state == stateDead || g.protocolType == "":
		return offsetstore.GroupState{}, true
	}
	since := g.stateSince
	if g.state == stateEmpty {
		since = g.emptySince
	}
	st = offsetstore.GroupState{
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		Generation:   g.generation,
		Empty:        g.state == stateEmpty,
		StateTime:    since,
	}
	if g.subscribed != nil {
		st.Subscribed = slices.Sorted(maps.Keys(g.subscribed))
	}
	return st, true
}

// setEpoch makes e the epoch of fence f. Writes accepted under an older epoch can no longer
// land once the store's fence is past them, so acceptances stop waiting for them. c.mu is
// held.
func (c *Coordinator) setEpoch(f *gfence, e int64) {
	if e == f.epoch {
		return
	}
	f.epoch = e
	f.current = 0
	c.wakeLocked(f)
}

// wakeLocked wakes the acceptances waiting for f's writes. c.mu is held.
func (c *Coordinator) wakeLocked(f *gfence) {
	if f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// orderLocked reports whether a write of group id can be accepted under f now: no write
// accepted under f's epoch is still in the store. Otherwise it waits until that changes, within
// ctx, and reports false: the group may have changed meanwhile, so the caller validates again.
// c.mu is held on entry and on return, released while waiting.
func (c *Coordinator) orderLocked(ctx context.Context, id string, f *gfence) (bool, error) {
	if f.current == 0 {
		return true, nil
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	if c.waiting != nil {
		c.waiting(id)
	}
	c.mu.Unlock()
	defer c.mu.Lock()
	select {
	case <-idle:
		return false, nil
	case <-c.done:
		return false, nil // the caller finds the coordinator closed
	case <-ctx.Done():
		return false, fmt.Errorf("%w: %w", errWriteTimeout, ctx.Err())
	}
}

// accept hands out an acceptance of a write to group id under its current fence: the
// GroupResult fields a protocol Handler (or a sweep) writes with, and a Done that ends the
// write's tracking. c.mu is held.
func (c *Coordinator) accept(id string, f *gfence) (fenced bool, epoch int64, done func(error)) {
	f.current++
	epoch = f.epoch
	var once bool
	done = func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if once {
			return
		}
		once = true
		if epoch == f.epoch {
			if f.current--; f.current == 0 {
				c.wakeLocked(f)
			}
		}
		if err != nil && f.epoch == epoch && c.fencer != nil {
			// The write failed and may still land, or another process moved the fence: move
			// it (past anything stored) before the next acceptance.
			f.ready = false
		}
		if f.current == 0 && c.fencer == nil {
			if g := c.groups[id]; g != nil {
				c.writesDone(g)
			}
		}
	}
	return c.fencer != nil, epoch, done
}

// writesInFlight reports whether a write accepted for group g has not returned yet: without a
// fencing store a join phase does not complete until then. c.mu is held.
func (c *Coordinator) writesInFlight(g *group) bool {
	if c.fencer != nil {
		return false
	}
	f := c.fences[g.id]
	return f != nil && f.current > 0 // without fences the epoch never moves: current counts them all
}

// writesDone completes a join phase that waited for the group's writes. c.mu is held.
func (c *Coordinator) writesDone(g *group) {
	if g.state != statePreparingRebalance {
		return
	}
	if !c.now().Before(g.deadline) {
		c.completeJoin(g)
		return
	}
	c.tryCompleteJoin(g)
}

// Load reads the state of every group the store keeps (offsetstore.Fencer) and restores each
// group that has a protocol type as an Empty group: its members did not survive the restart,
// but its generation, protocol type and, for a group that was Empty, the time it became Empty
// do, so offset retention after a restart follows Kafka's rules (KIP-211) as if the process
// had not stopped. A group that had members when the process stopped counts as Empty from the
// time Load runs: later than Kafka would say, never earlier. Load does nothing over a store
// without fences. A gateway calls it once, before serving.
func (c *Coordinator) Load(ctx context.Context) error {
	if c.fencer == nil {
		return nil
	}
	states, err := c.fencer.GroupStates(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.CoordinatorNotAvailable
	}
	for id, st := range states {
		if st.ProtocolType == "" {
			continue
		}
		f := c.fenceLocked(id)
		c.setEpoch(f, max(f.epoch, st.Fence))
		if _, ok := c.groups[id]; ok {
			continue
		}
		since := st.StateTime
		if !st.Empty || since.IsZero() {
			since = now
		}
		g := newGroup(id, since)
		g.protocolType = st.ProtocolType
		g.generation = st.Generation
		if st.ProtocolType == ConsumerProtocolType {
			g.subscribed = map[string]bool{} // an Empty consumer group subscribes to nothing
		}
		c.groups[id] = g
	}
	return nil
}

// newGroup returns an Empty group without members, Empty since the given time.
func newGroup(id string, since time.Time) *group {
	return &group{
		id:         id,
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]time.Time),
		emptySince: since,
		stateSince: since,
	}
}
