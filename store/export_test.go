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

// groupCommitOf is s's group commit of kind "send" (SaveUnlessSettings)
// or "broadcast" (a plain broadcast).
func groupCommitOf(s *Store, kind string) *groupCommit {
	if kind == "broadcast" {
		return &s.groups.broadcast
	}
	return &s.groups.unless
}

// OnGroupCommit has s call, under the queue's lock (neither may block),
// queued with how many calls of kind have queued so far, each time one
// does, and writing when a call of kind that found nothing running has
// taken the calls queued meanwhile and starts writing: so a test knows
// which calls will batch.
func OnGroupCommit(s *Store, kind string, queued func(arrivals int), writing func()) {
	g := groupCommitOf(s, kind)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queued, g.writing = queued, writing
}

// GroupCommitRows reports how many rows of kind s committed in batches of
// two or more, and how many ran one by one after their batch failed.
func GroupCommitRows(s *Store, kind string) (batched, retried int64) {
	g := groupCommitOf(s, kind)
	return g.batched.Load(), g.retried.Load()
}

// SetGroupCommit turns s's group commits on (as they start) or off, every
// call then writing alone as before group commit, for benchmarks to
// compare the two.
func SetGroupCommit(s *Store, on bool) {
	for _, g := range []*groupCommit{&s.groups.unless, &s.groups.broadcast} {
		g.mu.Lock()
		g.off = !on
		g.mu.Unlock()
	}
}
