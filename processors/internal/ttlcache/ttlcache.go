// Package ttlcache is a small concurrency-safe map whose entries expire,
// for the processors' catalog and address lookups.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values for ttl each. The zero Cache is not usable;
// build one with New.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[K]entry[V]
	sets    int
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a cache keeping entries for ttl, reading the time from now
// (nil: time.Now). A ttl of zero or less caches nothing.
func New[K comparable, V any](ttl time.Duration, now func() time.Time) *Cache[K, V] {
	if now == nil {
		now = time.Now
	}
	return &Cache[K, V]{ttl: ttl, now: now, entries: make(map[K]entry[V])}
}

// Get returns the live value for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Set stores v for k; every 256 sets, expired entries are swept out.
func (c *Cache[K, V]) Set(k K, v V) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.entries[k] = entry[V]{v: v, expires: now.Add(c.ttl)}
	if c.sets++; c.sets%256 == 0 {
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, key)
			}
		}
	}
}

// Delete removes k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
