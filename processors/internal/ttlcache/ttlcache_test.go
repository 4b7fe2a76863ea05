package ttlcache

import (
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	c := New[string, []string](time.Minute, clock)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache hit")
	}
	c.Set("a", nil) // empty results are cached too
	if v, ok := c.Get("a"); !ok || v != nil {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	advance(59 * time.Second)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("expired early")
	}
	advance(time.Second)
	if _, ok := c.Get("a"); ok {
		t.Fatal("not expired after ttl")
	}
	for i := range 300 {
		c.Set(string(rune('b'+i)), nil)
	}
	advance(time.Hour)
	for i := range 256 {
		c.Set(string(rune(1000+i)), nil)
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > 256 {
		t.Fatalf("%d entries after a sweep, want expired ones gone", n)
	}

	c.Set("gone", []string{"x"})
	c.Delete("gone")
	if _, ok := c.Get("gone"); ok {
		t.Fatal("Get after Delete hit")
	}

	off := New[string, int](0, nil)
	off.Set("x", 1)
	if _, ok := off.Get("x"); ok {
		t.Fatal("ttl 0 cached")
	}
}
