package store

// ObserveReads has s tell observe of every read it runs as a prepared
// statement (readstmt.go), which bun's query hooks do not see: the plan
// tests explain those too.
func ObserveReads(s *Store, observe func(query string, args []any)) {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	s.reads.observe = observe
}
