package dualread

import (
	"sync"
	"time"
)

// negCache remembers IDs missing in both stores for ttl. It is swept as it
// grows, so it holds at most the misses of one ttl.
type negCache struct {
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	m    map[string]time.Time // key → expiry
	next time.Time            // next sweep
}

func newNegCache(ttl time.Duration) *negCache {
	return &negCache{ttl: ttl, now: time.Now, m: map[string]time.Time{}}
}

func (c *negCache) has(k string) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	if ok && c.now().After(exp) {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *negCache) add(k string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.After(c.next) {
		for key, exp := range c.m {
			if now.After(exp) {
				delete(c.m, key)
			}
		}
		c.next = now.Add(c.ttl)
	}
	c.m[k] = now.Add(c.ttl)
}
