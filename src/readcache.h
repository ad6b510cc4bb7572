/*
 * Read cache: ranged reads of provider objects through a bounded on-disk
 * cache of fixed-size blocks, keyed by (bucket, key, ETag) so that stale
 * bytes are never served: a new ETag is a new cache key.  Sequential access
 * grows a readahead window (fetched in parallel by background threads);
 * blocks are evicted least-recently-used when the cache exceeds its bound.
 *
 * Thread-safe.  Never holds its lock across provider I/O.
 */
#ifndef OBJFS_READCACHE_H
#define OBJFS_READCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "objfs/provider.h"

struct objfs_readcache;

/* dir is created if missing and emptied at start (the index lives in memory).
 * block_size: bytes per cached block (power of two, e.g. 1 MiB).
 * max_bytes: bound of the on-disk cache.  max_readahead: bytes fetched ahead
 * at most on sequential reads.  threads: background fetchers (>= 1).
 * Returns 0 and *out, or a negative errno. */
int objfs_readcache_new(const char *dir, uint64_t max_bytes, uint32_t block_size,
			uint64_t max_readahead, unsigned threads,
			struct objfs_readcache **out);
void objfs_readcache_free(struct objfs_readcache *rc);

/*
 * Reads [off, off+len) of object (bucket, key) whose current ETag is etag and
 * size obj_size, into buf.  Returns the number of bytes read (short only at
 * obj_size) or a negative errno (-ESTALE when the provider's object no longer
 * has this ETag).  stream_id identifies the reader (e.g. an open file handle)
 * for sequential-access detection; 0 disables readahead.
 */
ssize_t objfs_readcache_read(struct objfs_readcache *rc, struct objfs_prov *prov,
			     const char *bucket, const char *key, const char *etag,
			     uint64_t obj_size, uint64_t off, size_t len, void *buf,
			     uint64_t stream_id);

/* Drops every cached block of (bucket, key), any ETag. */
void objfs_readcache_invalidate(struct objfs_readcache *rc, const char *bucket,
				const char *key);

struct objfs_readcache_stats {
	uint64_t hits, misses, bytes_cached, evictions, readahead_blocks;
	uint64_t max_bytes;              /* the bound given to objfs_readcache_new */
};
void objfs_readcache_stats(struct objfs_readcache *rc, struct objfs_readcache_stats *out);

#endif
