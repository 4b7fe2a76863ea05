package store

// ObserveReads has s tell observe of every read it runs as a prepared
// statement (readstmt.go), which bun's query hooks do not see: the plan
// tests explain those too.
func ObserveReads(s *Store, observe func(query string, args []any)) {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	s.reads.observe = observe
}

// PostgresRead is a prepared read as the store sends it to PostgreSQL:
// its text with $n placeholders and its values bound as pgx takes them.
func PostgresRead(query string, args []any) (string, []any) {
	return numberPlaceholders(query), pgArgs(args)
}
