package filerstore

// QueuedTxns returns how many transactions wait for the next round trip, for tests that
// must know a call has queued before they release the round trip in flight.
func QueuedTxns(s *Store) int {
	s.txns.mu.Lock()
	defer s.txns.mu.Unlock()
	return len(s.txns.queue)
}
