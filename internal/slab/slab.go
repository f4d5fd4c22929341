// Package slab provides type-stable object caches, specvma's analogue of the
// kernel's SLAB_TYPESAFE_BY_RCU caches.
//
// An object freed to a Cache is never given back to the Go allocator while
// the cache lives: the next Alloc hands the same memory out again, at once
// (last freed, first reused). A pointer that a lockless reader loaded may
// therefore name a different object by the time the reader uses it, exactly
// the hazard the kernel's readers face; memory safety holds (Go's GC keeps
// the object alive and it is always a valid T), identity does not. Callers
// make every field that a lockless reader touches a sync/atomic value and
// validate what they read (sequence counts, try-get refcounts).
//
// Alloc does not clear the object: the caller reinitialises it, as a
// constructor would, before publishing it.
package slab

import "sync"

// Cache is a free list of *T. The zero value is ready to use.
type Cache[T any] struct {
	mu    sync.Mutex
	free  []*T
	live  int64
	total int64
	reuse int64
}

// Alloc returns a free object, reusing the most recently freed one if any.
func (c *Cache[T]) Alloc() *T {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live++
	if n := len(c.free); n > 0 {
		obj := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		c.reuse++
		return obj
	}
	c.total++
	return new(T)
}

// Free returns obj to the cache. The caller must hold the only remaining
// owning reference; lockless readers may still look at it.
func (c *Cache[T]) Free(obj *T) {
	c.mu.Lock()
	c.free = append(c.free, obj)
	c.live--
	c.mu.Unlock()
}

// Stats reports the objects now allocated, the objects ever created, and how
// many allocations reused freed memory.
func (c *Cache[T]) Stats() (live, created, reused int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live, c.total, c.reuse
}
