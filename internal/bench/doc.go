// Package bench holds Herald's benchmarks: each measures Herald against the
// floor, the same work done with plain database/sql on the same driver,
// pragmas and schema, and reports the ratio as x-floor (1.0 means as fast
// as the floor). DESIGN.md's "Performance" section sets the targets. Run
//
//	go test -run '^$' -bench . -benchmem ./internal/bench/
//
// BenchmarkDeliveryThroughput has no floor: it reports deliveries/s, the
// rate at which a Service's delivery workers work off a backlog.
//
// Set HERALD_TEST_POSTGRES_DSN to add the PostgreSQL list, status and
// delivery throughput benchmarks. The package has no code outside its
// tests.
package bench
