//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestServerProfile records a perf profile of examples/server (or, with
// HERALD_BENCH_PROFILE_SIDE=floor, of the floor server) serving one
// request kind of BenchmarkServer: HERALD_BENCH_PROFILE=DB/KIND (for
// example sqlite/send) and HERALD_BENCH_PROFILE_N requests (default
// 20,000), into HERALD_BENCH_PROFILE_OUT (default perf.data). It needs
// perf; without HERALD_BENCH_PROFILE it skips. It is a tool for reading
// where a request's CPU goes, not a test.
func TestServerProfile(t *testing.T) {
	spec := os.Getenv("HERALD_BENCH_PROFILE")
	if spec == "" {
		t.Skip("set HERALD_BENCH_PROFILE=DB/KIND to profile the server under BenchmarkServer's load")
	}
	db, kind, _ := strings.Cut(spec, "/")
	var req *serverRequest
	for i := range serverRequests {
		if serverRequests[i].name == kind {
			req = &serverRequests[i]
		}
	}
	if req == nil {
		t.Fatalf("no request kind %q", kind)
	}
	n := 20_000
	if s := os.Getenv("HERALD_BENCH_PROFILE_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	out := os.Getenv("HERALD_BENCH_PROFILE_OUT")
	if out == "" {
		out = "perf.data"
	}
	herald, floor := startServers(t, heraldServerBinary(t), db)
	s := herald
	if os.Getenv("HERALD_BENCH_PROFILE_SIDE") == "floor" {
		s = floor
	}
	c := s.newClients()
	defer c.close()
	if err := c.run(*req, 1000); err != nil { // warm
		t.Fatal(err)
	}
	perf := exec.Command("perf", "record", "-F", "1999", "-g", "-o", out, "-p", strconv.Itoa(s.cmd.Process.Pid))
	perf.Stderr = os.Stderr
	if err := perf.Start(); err != nil {
		t.Fatal(err)
	}
	before := s.cpuNanos(t)
	err := c.run(*req, n)
	cpu := s.cpuNanos(t) - before
	_ = perf.Process.Signal(os.Interrupt)
	_ = perf.Wait()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s %s: %.1f µs/req CPU over %d requests; profile in %s\n", s.name, spec, float64(cpu)/1e3/float64(n), n, out)
}
