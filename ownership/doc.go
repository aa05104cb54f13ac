// Package ownership divides consumer groups between several gateways that share one offset
// store, so that each group has exactly one coordinator at a time, and fences a deposed
// coordinator so that it can never land a write after its successor started serving the
// group. It is what Kafka gets from the leadership of the __consumer_offsets partitions and
// their leader epochs, built on two store capabilities: offsetstore.Registry (records with
// compare-and-set, for members and shard owners) and offsetstore.Fencer (per-group fences).
//
// # Members, shards and leases
//
// A gateway joins with Start: it registers a member record (its node id and advertised
// address) and renews it every quarter of the lease. Members find each other in the store,
// with no peer list. A member is live while its record keeps changing: another member
// considers it gone when the record's revision has not changed for a whole lease as measured
// on its own clock, so members need no agreement between their clocks, only clocks that run
// at similar rates; and a member stops serving on its own once 7/8 of a lease has passed on
// its clock since it sent its last successful renewal, before any other member can consider
// it gone. A member that certainly stopped (Options.Gone: for a gateway, its address refuses
// connections) counts as gone at once.
//
// Groups are hashed (FNV-1a) onto a fixed number of shards, fixed by the first member of a
// cluster and kept in the store. Each shard has an owner record naming one member and the
// shard's epoch. Members balance the shards: with L live members each aims at N/L of the N
// shards (the lowest node ids take one more when L does not divide N), releases what it holds
// beyond that, and takes free shards (released, never owned, or owned by a member that is
// gone) up to it, each with a compare-and-set of the shard's record that also increments its
// epoch. A shard is held as long as its owner's member lease lives; a member that leaves with
// Close releases its shards and removes its record, so its successors need not wait.
//
// # Fencing
//
// Every group fence (offsetstore.Fencer) a member writes carries, in its upper 32 bits, the
// epoch of the shard under which it was written. Before a new owner serves a group it moves
// the group's fence to at least epoch<<32 with a conditional SaveGroupState: for every group
// of the shard the store lists when the shard is taken, and for any other group before the
// first request that touches it. A member that finds a fence from a later epoch has been
// deposed and stops serving the shard. Every write of the owner's Store carries the group's
// fence, so a write from a deposed owner (crashed, paused, partitioned, stalled in garbage
// collection) that arrives at the store after its successor moved the fence is refused by the
// store itself, whatever the deposed member's clock says.
//
// # Serving from memory
//
// While a member owns a shard it is the only writer of its groups, so its Store (Node.Store)
// keeps their offsets and group state in memory: it loads them when it takes the shard
// (answering offsetstore.ErrLoading, which package protocol maps to
// COORDINATOR_LOAD_IN_PROGRESS, meanwhile), writes through to the store with the fence, and
// answers fetches from memory. A write whose outcome is unknown (a timeout, a lost reply)
// makes the group reload, moving its fence first, before it is served again. Requests for
// groups of shards the member does not own fail with offsetstore.ErrNotOwner (protocol:
// NOT_COORDINATOR).
//
// Ownership knows nothing of group membership: a gateway asks Node.Coordinator which member
// coordinates a group (for FindCoordinator), Node.Owns whether it does, and Options.OnChange
// tells it when it gains or loses a shard, so that its own group coordinator can load or drop
// the groups of that shard.
package ownership
