package groupcoord

import "github.com/twmb/franz-go/pkg/kerr"

// Resign makes the coordinator forget the groups for which lost reports true, as a Kafka
// broker unloads the groups of an offsets partition it no longer leads: the blocked JoinGroup
// and SyncGroup calls of their members are answered with NOT_COORDINATOR, and their members,
// generations and fence records are dropped. Writes accepted for them before are still
// fenced by the store. A later Load restores from the store the groups it keeps state of. A
// gateway that shares its store with others (package ownership) calls it when it loses a
// shard of groups, and Load when it gains one.
func (c *Coordinator) Resign(lost func(group string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, g := range c.groups {
		if !lost(id) {
			continue
		}
		for _, m := range g.members {
			c.failWaiters(m, kerr.NotCoordinator.Code)
		}
		delete(c.groups, id)
	}
	for id := range c.fences {
		if lost(id) {
			delete(c.fences, id) // a move or a write still running finishes on the dropped record
		}
	}
}
