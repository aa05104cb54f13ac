package groupcoord

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup serves a JoinGroup request (v0-v9) from a client with the given client id and
// host. It blocks until the group's join phase completes, ctx is done, or the coordinator is
// closed, as Kafka delays its JoinGroup responses.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	fail := func(code int16, memberID string) *kmsg.JoinGroupResponse {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = req.Version
		resp.ErrorCode = code
		resp.Generation = -1
		resp.MemberID = memberID
		return resp
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session // v0 has no rebalance timeout: Kafka uses the session timeout
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID.Code, req.MemberID)
	case session < c.minSes || session > c.maxSes:
		return fail(kerr.InvalidSessionTimeout.Code, req.MemberID)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return fail(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			c.mu.Unlock()
			return fail(kerr.UnknownMemberID.Code, req.MemberID)
		}
		g = newGroup(req.Group, c.now())
		c.groups[req.Group] = g
	}
	if g.state == stateDead {
		c.mu.Unlock()
		return fail(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	if !g.supportsProtocols(req) {
		c.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}

	now := c.now()
	var m *member
	if req.MemberID == "" {
		if req.InstanceID == nil && req.Version >= 4 {
			// KIP-394: hand out a member id and make the client come back with it.
			id := newMemberID(clientID)
			g.pending[id] = now.Add(session)
			c.mu.Unlock()
			c.log.Debug("join: member id required", "group", g.id, "member", id)
			return fail(kerr.MemberIDRequired.Code, id)
		}
		if req.InstanceID != nil {
			if old, ok := g.static[*req.InstanceID]; ok {
				// A static member came back with a new incarnation: fence the old member id.
				m = g.members[old]
				c.failWaiters(m, kerr.FencedInstanceID.Code)
				delete(g.members, old)
				delete(g.pendingSync, old)
				m.id = newMemberID(clientID)
				g.members[m.id] = m
				g.static[*req.InstanceID] = m.id
				if g.leader == old {
					g.leader = m.id
				}
			}
		}
		if m == nil {
			m = c.addMember(g, newMemberID(clientID), req)
		}
	} else {
		if _, ok := g.pending[req.MemberID]; ok {
			delete(g.pending, req.MemberID)
			m = c.addMember(g, req.MemberID, req)
		} else {
			var code int16
			m, code = g.validateMember(req.MemberID, req.InstanceID)
			if code != 0 {
				c.mu.Unlock()
				return fail(code, req.MemberID)
			}
			switch g.state {
			case stateEmpty, stateDead:
				c.mu.Unlock()
				return fail(kerr.UnknownMemberID.Code, req.MemberID)
			case stateCompletingRebalance, stateStable:
				if m.sameProtocols(req.Protocols) && (g.state == stateCompletingRebalance || m.id != g.leader) {
					// Nothing changed: answer with the current generation right away.
					m.heartbeatDue = now.Add(m.sessionTimeout)
					resp := g.joinResponse(m, req.Version)
					c.mu.Unlock()
					return resp
				}
			}
		}
	}

	// m joins (or rejoins) the current or next rebalance.
	m.clientID, m.clientHost = clientID, clientHost
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocols = copyProtocols(req.Protocols)
	m.joinVersion = req.Version
	if m.joinWaiter != nil {
		m.joinWaiter <- g.errorJoin(m, kerr.RebalanceInProgress.Code)
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.joinWaiter = ch
	if g.state == statePreparingRebalance {
		c.tryCompleteJoin(g)
	} else {
		c.prepareRebalance(g, "member joined: "+m.id)
	}
	c.mu.Unlock()

	select {
	case resp := <-ch:
		return resp
	case <-ctx.Done():
		return fail(kerr.CoordinatorNotAvailable.Code, m.id)
	case <-c.done:
		return fail(kerr.CoordinatorNotAvailable.Code, m.id)
	}
}

// supportsProtocols is Kafka's ClassicGroup.supportsProtocols.
func (g *group) supportsProtocols(req *kmsg.JoinGroupRequest) bool {
	if len(g.members) == 0 {
		return true // an Empty group takes any non-empty protocol type and list
	}
	if req.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range req.Protocols {
		if g.supportedByAll(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.members {
		if !m.hasProtocol(name) {
			return false
		}
	}
	return true
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (c *Coordinator) addMember(g *group, id string, req *kmsg.JoinGroupRequest) *member {
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.seq++
	m := &member{id: id, instanceID: clonePtr(req.InstanceID), seq: g.seq}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	return m
}

// validateMember checks a member id and optional instance id against the group: the static
// member checks first (FENCED_INSTANCE_ID for an instance held by another member id), then the
// member id (UNKNOWN_MEMBER_ID).
func (g *group) validateMember(memberID string, instanceID *string) (*member, int16) {
	if instanceID != nil {
		owner, ok := g.static[*instanceID]
		if !ok {
			return nil, kerr.UnknownMemberID.Code
		}
		if owner != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m, ok := g.members[memberID]
	if !ok {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// prepareRebalance moves the group to PreparingRebalance: assignments are dropped, members
// waiting in SyncGroup are told REBALANCE_IN_PROGRESS, and the join phase lasts at most the
// largest rebalance timeout of the members.
func (c *Coordinator) prepareRebalance(g *group, reason string) {
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.syncWaiter != nil {
				m.syncWaiter <- g.errorSync(kerr.RebalanceInProgress.Code, m.joinVersion)
				m.syncWaiter = nil
			}
		}
	}
	g.pendingSync = nil
	g.state = statePreparingRebalance
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.deadline = c.now().Add(timeout)
	c.log.Debug("rebalance", "group", g.id, "generation", g.generation, "reason", reason)
	c.tryCompleteJoin(g)
}

// tryCompleteJoin ends the join phase once every member has joined and no member id handed out
// with MEMBER_ID_REQUIRED is outstanding.
func (c *Coordinator) tryCompleteJoin(g *group) {
	if g.state != statePreparingRebalance || len(g.pending) > 0 || c.writesInFlight(g) {
		return
	}
	for _, m := range g.members {
		if m.joinWaiter == nil {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin ends the join phase: members that did not rejoin are removed, the generation
// advances, a protocol and a leader are chosen, and every waiting JoinGroup is answered.
func (c *Coordinator) completeJoin(g *group) {
	for _, m := range g.members {
		if m.joinWaiter == nil {
			c.removeMember(g, m, kerr.UnknownMemberID.Code)
		}
	}
	g.generation++
	g.stateSince = c.now()
	defer c.changed(g)
	if len(g.members) == 0 {
		g.state = stateEmpty
		g.emptySince = g.stateSince
		g.protocol = ""
		g.leader = ""
		g.subscribed = g.computeSubscribed()
		c.log.Debug("group empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	members := g.sortedMembers()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = members[0].id
	}
	g.state = stateCompletingRebalance
	now := c.now()
	var timeout time.Duration
	g.pendingSync = make(map[string]bool, len(members))
	for _, m := range members {
		timeout = max(timeout, m.rebalanceTimeout)
		g.pendingSync[m.id] = true
		m.heartbeatDue = now.Add(m.sessionTimeout)
		m.joinWaiter <- g.joinResponse(m, m.joinVersion)
		m.joinWaiter = nil
	}
	g.deadline = now.Add(timeout)
	c.log.Debug("join complete", "group", g.id, "generation", g.generation, "leader", g.leader,
		"protocol", g.protocol, "members", len(members))
}

// selectProtocol is Kafka's ClassicGroup.selectProtocol: among the protocols every member
// supports, each member votes for the first one in its own preference order; most votes win
// (ties go to the earliest in the first member's order).
func (g *group) selectProtocol() string {
	members := g.sortedMembers()
	var candidates []string
	for _, p := range members[0].protocols {
		if g.supportedByAll(p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int, len(candidates))
	for _, m := range members {
		for _, p := range m.protocols {
			if g.supportedByAll(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range candidates {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func (g *group) joinResponse(m *member, version int16) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.Generation = g.generation
	resp.ProtocolType = strPtr(g.protocolType)
	resp.Protocol = strPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			rm.InstanceID = clonePtr(o.instanceID)
			rm.ProtocolMetadata = o.metadata(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

func (g *group) errorJoin(m *member, code int16) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = m.joinVersion
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = m.id
	return resp
}

func (g *group) errorSync(code, version int16) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = version
	resp.ErrorCode = code
	return resp
}

// failWaiters answers m's blocked JoinGroup and SyncGroup, if any, with code.
func (c *Coordinator) failWaiters(m *member, code int16) {
	if m.joinWaiter != nil {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = m.joinVersion
		resp.ErrorCode = code
		resp.Generation = -1
		resp.MemberID = m.id
		m.joinWaiter <- resp
		m.joinWaiter = nil
	}
	if m.syncWaiter != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = code
		m.syncWaiter <- resp
		m.syncWaiter = nil
	}
}

func (c *Coordinator) removeMember(g *group, m *member, code int16) {
	c.failWaiters(m, code)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
	}
	c.log.Debug("member removed", "group", g.id, "member", m.id)
}

// membersChanged reacts to members leaving or expiring, as Kafka's removeMemberAndUpdateGroup.
func (c *Coordinator) membersChanged(g *group, reason string) {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.prepareRebalance(g, reason)
	case statePreparingRebalance:
		c.tryCompleteJoin(g)
	}
}

// SyncGroup serves a SyncGroup request (v0-v5). A follower blocks until the leader's
// assignment arrives, ctx is done, or the coordinator is closed.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = req.Version
	fail := func(code int16) *kmsg.SyncGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	g := c.groups[req.Group]
	if g == nil {
		c.mu.Unlock()
		return fail(kerr.UnknownMemberID.Code)
	}
	if g.state == stateDead {
		c.mu.Unlock()
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
	case req.Generation != g.generation:
		code = kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		code = kerr.InconsistentGroupProtocol.Code
	case g.state == stateEmpty:
		code = kerr.UnknownMemberID.Code
	case g.state == statePreparingRebalance:
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		c.mu.Unlock()
		return fail(code)
	}
	delete(g.pendingSync, m.id)
	if g.state == stateStable {
		m.heartbeatDue = c.now().Add(m.sessionTimeout)
		resp.ProtocolType = strPtr(g.protocolType)
		resp.Protocol = strPtr(g.protocol)
		resp.MemberAssignment = m.assignment
		c.mu.Unlock()
		return resp
	}
	// CompletingRebalance: wait for the leader's assignment, or deliver it.
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	if m.syncWaiter != nil {
		m.syncWaiter <- g.errorSync(kerr.RebalanceInProgress.Code, req.Version)
	}
	m.syncWaiter = ch
	syncVersion := req.Version
	if m.id == g.leader {
		assigned := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			assigned[a.MemberID] = a.MemberAssignment
		}
		g.state = stateStable
		now := c.now()
		g.stateSince = now
		c.changed(g)
		type delivery struct {
			ch chan *kmsg.SyncGroupResponse
			r  *kmsg.SyncGroupResponse
		}
		var out []delivery
		for _, o := range g.members {
			o.assignment = append([]byte(nil), assigned[o.id]...)
			o.heartbeatDue = now.Add(o.sessionTimeout)
			if o.syncWaiter != nil {
				r := kmsg.NewPtrSyncGroupResponse()
				r.ProtocolType = strPtr(g.protocolType)
				r.Protocol = strPtr(g.protocol)
				r.MemberAssignment = o.assignment
				out = append(out, delivery{o.syncWaiter, r})
				o.syncWaiter = nil
			}
		}
		c.log.Debug("group stable", "group", g.id, "generation", g.generation)
		// As Kafka answers SyncGroup once the group's metadata record is written, the
		// members learn their assignment once the new state is saved and the fence moved
		// past every write accepted before: their first fetch sees no older write land.
		if _, err := c.readyLocked(ctx, g.id); err != nil {
			c.log.Warn("group stable, its state not saved", "group", g.id, "err", err)
		}
		for _, d := range out {
			d.ch <- d.r
		}
	}
	c.mu.Unlock()

	select {
	case r := <-ch:
		r.Version = syncVersion
		return r
	case <-ctx.Done():
		return fail(kerr.CoordinatorNotAvailable.Code)
	case <-c.done:
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
}

// Heartbeat serves a Heartbeat request (v0-v4).
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	g := c.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	if g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
		resp.ErrorCode = code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	case g.state == stateEmpty:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	default:
		m.heartbeatDue = c.now().Add(m.sessionTimeout)
		if g.state == statePreparingRebalance {
			resp.ErrorCode = kerr.RebalanceInProgress.Code
		}
	}
	return resp
}

// LeaveGroup serves a LeaveGroup request (v0-v5): v0-v2 name one member, v3+ a batch, each
// by member id or by instance id.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	g := c.groups[req.Group]
	if g != nil && g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	changed := false
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = l.MemberID
		rm.InstanceID = clonePtr(l.InstanceID)
		rm.ErrorCode = c.leave(g, l, &changed)
		resp.Members = append(resp.Members, rm)
	}
	if changed {
		c.membersChanged(g, "members left")
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leave(g *group, l kmsg.LeaveGroupRequestMember, changed *bool) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	id := l.MemberID
	if l.InstanceID != nil {
		owner, ok := g.static[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if id != "" && owner != id {
			return kerr.FencedInstanceID.Code
		}
		id = owner
	} else if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		*changed = true
		return 0
	}
	m, ok := g.members[id]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	c.removeMember(g, m, kerr.UnknownMemberID.Code)
	*changed = true
	return 0
}

// expire applies every deadline that has passed at now: groups Empty for longer than the
// retention are forgotten, pending member ids and members whose session timed out are removed, a join phase past its rebalance timeout completes without the
// members that did not rejoin, and members that did not send SyncGroup in time are removed.
func (c *Coordinator) expire(now time.Time) {
	idle := c.expireLocked(now)
	if len(idle) == 0 {
		return
	}
	// An idle group is forgotten only when it has no offsets: one with offsets is kept, so
	// that offset retention measures them from the time the group became Empty (KIP-211),
	// until the sweeper expires them and calls OffsetsExpired. The store is asked outside the
	// lock, at most once per EmptyGroupRetention per group.
	ctx, cancel := context.WithTimeout(c.ctx, storeCheckTimeout)
	defer cancel()
	for _, g := range idle {
		has, err := c.hasOffsets(ctx, g.id)
		c.mu.Lock()
		switch {
		case c.closed || c.groups[g.id] != g || !g.forgettable():
		case err != nil:
			c.log.Debug("keeping an empty group: offsets unknown", "group", g.id, "err", err)
			g.offsetsChecked = now
		case has:
			g.offsetsChecked = now
		default:
			delete(c.groups, g.id)
		}
		c.mu.Unlock()
	}
}

// storeCheckTimeout bounds the store lookups of one expire tick.
const storeCheckTimeout = 5 * time.Second

// expireLocked applies every deadline that has passed at now, and returns the groups that
// have been Empty, without members or pending joins, for EmptyGroupRetention and whose
// offsets were not checked for as long.
func (c *Coordinator) expireLocked(now time.Time) []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	var idle []*group
	for _, g := range c.groups {
		if g.forgettable() && now.Sub(g.emptySince) >= c.keep {
			if now.Sub(g.offsetsChecked) >= c.keep {
				idle = append(idle, g)
			}
			continue
		}
		changed := false
		for id, due := range g.pending {
			if !now.Before(due) {
				delete(g.pending, id)
				changed = true
			}
		}
		for _, m := range g.members {
			if m.joinWaiter == nil && m.syncWaiter == nil && !now.Before(m.heartbeatDue) {
				c.removeMember(g, m, kerr.UnknownMemberID.Code)
				changed = true
			}
		}
		if changed {
			c.membersChanged(g, "session timeout")
		}
		switch g.state {
		case statePreparingRebalance:
			if !now.Before(g.deadline) && !c.writesInFlight(g) {
				c.completeJoin(g)
			}
		case stateCompletingRebalance, stateStable:
			if len(g.pendingSync) > 0 && !now.Before(g.deadline) {
				for id := range g.pendingSync {
					if m, ok := g.members[id]; ok {
						c.removeMember(g, m, kerr.UnknownMemberID.Code)
					}
				}
				g.pendingSync = nil
				c.prepareRebalance(g, "sync timeout")
			}
		}
	}
	return idle
}
