// Package bench holds Herald's benchmarks: each measures Herald against the
// floor, the same work done with plain database/sql on the same driver,
// pragmas and schema, and reports the ratio as x-floor (1.0 means as fast
// as the floor). DESIGN.md's "Performance" section sets the targets. Run
//
//	go test -run '^$' -bench . -benchmem ./internal/bench/
//
// BenchmarkServer measures over HTTP: the examples/server binary and a
// minimal net/http server (the HTTP floor) run as processes of their own,
// and it reports each one's CPU time per request (Linux only: it reads
// /proc).
//
// BenchmarkDeliveryThroughput has no floor: it reports deliveries/s, the
// rate at which a Service's delivery workers work off a backlog.
//
// Set HERALD_TEST_POSTGRES_DSN to add the PostgreSQL list, status,
// delivery throughput and server benchmarks. The package has no code outside its
// tests.
package bench
