#include "common/secret.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

/*
 * A small slab allocator over locked pages.  Slots of one size class are cut
 * from 64 KiB chunks; a freed slot is wiped and pushed onto its class's free
 * list (the link lives in the wiped slot).  Large requests get their own
 * mapping.  Chunks are never returned to the system: a keyring's working set
 * is small and stable, and unmapping would need per-chunk accounting.
 */

#define SLAB_CHUNK	(64 * 1024)
#define SLAB_MIN_SHIFT	5			/* 32 bytes */
#define SLAB_MAX_SHIFT	12			/* 4096 bytes */
#define SLAB_CLASSES	(SLAB_MAX_SHIFT - SLAB_MIN_SHIFT + 1)

struct slot {
	struct slot *next;
};

static pthread_mutex_t secure_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *free_slots[SLAB_CLASSES];	/* protected by secure_lock */
static unsigned char *chunk_pos[SLAB_CLASSES];	/* protected by secure_lock */
static size_t chunk_left[SLAB_CLASSES];		/* protected by secure_lock */
static size_t in_use;				/* protected by secure_lock */
static int all_locked = 1;
static int warned_unlocked;

static int
size_class(size_t len)
{
	int c = 0;

	while (((size_t)1 << (c + SLAB_MIN_SHIFT)) < len)
		c++;
	return c;
}

static void *
map_pages(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_DONTDUMP
	(void)madvise(p, len, MADV_DONTDUMP);
#endif
	if (mlock(p, len) != 0) {
		all_locked = 0;
		if (!warned_unlocked) {
			warned_unlocked = 1;
			kl_warn("cannot lock secret memory in RAM (%s); secrets are "
			    "still wiped and kept out of core dumps, but may be "
			    "swapped: raise RLIMIT_MEMLOCK (LimitMEMLOCK= in systemd)",
			    strerror(errno));
		}
	}
	return p;
}

void *
kl_secure_alloc(size_t len)
{
	size_t slot_len, map_len;
	struct slot *s;
	void *p = NULL;
	long pg;
	int c;

	return_val_if_fail(len > 0, NULL);
	pthread_mutex_lock(&secure_lock);
	if (len > ((size_t)1 << SLAB_MAX_SHIFT)) {
		pg = sysconf(_SC_PAGESIZE);
		if (pg <= 0 || len > SIZE_MAX - (size_t)pg)
			goto out;
		map_len = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
		if ((p = map_pages(map_len)) != NULL)
			in_use += map_len;
		goto out;
	}
	c = size_class(len);
	slot_len = (size_t)1 << (c + SLAB_MIN_SHIFT);
	if ((s = free_slots[c]) != NULL) {
		free_slots[c] = s->next;
		s->next = NULL;		/* slots are handed out zeroed */
		p = s;
	} else {
		if (chunk_left[c] < slot_len) {
			if ((chunk_pos[c] = map_pages(SLAB_CHUNK)) == NULL) {
				chunk_left[c] = 0;
				goto out;
			}
			chunk_left[c] = SLAB_CHUNK;
		}
		p = chunk_pos[c];
		chunk_pos[c] += slot_len;
		chunk_left[c] -= slot_len;
	}
	in_use += slot_len;
 out:
	pthread_mutex_unlock(&secure_lock);
	return p;
}

void
kl_secure_free(void *p, size_t len)
{
	size_t slot_len, map_len;
	struct slot *s;
	long pg;
	int c;

	if (p == NULL)
		return;
	if (len > ((size_t)1 << SLAB_MAX_SHIFT)) {
		pg = sysconf(_SC_PAGESIZE);
		map_len = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
		OPENSSL_cleanse(p, map_len);
		(void)munlock(p, map_len);
		munmap(p, map_len);
		pthread_mutex_lock(&secure_lock);
		in_use -= map_len;
		pthread_mutex_unlock(&secure_lock);
		return;
	}
	c = size_class(len);
	slot_len = (size_t)1 << (c + SLAB_MIN_SHIFT);
	OPENSSL_cleanse(p, slot_len);
	s = p;
	pthread_mutex_lock(&secure_lock);
	s->next = free_slots[c];
	free_slots[c] = s;
	in_use -= slot_len;
	pthread_mutex_unlock(&secure_lock);
}

int
kl_secure_locked(void)
{
	return all_locked;
}

size_t
kl_secure_in_use(void)
{
	size_t n;

	pthread_mutex_lock(&secure_lock);
	n = in_use;
	pthread_mutex_unlock(&secure_lock);
	return n;
}

int
kl_secret_alloc(struct kl_secret *s, size_t len)
{
	return_val_if_fail(s != NULL, -1);
	s->p = NULL;
	s->len = 0;
	if (len == 0)
		return 0;
	if ((s->p = kl_secure_alloc(len)) == NULL)
		return -1;
	s->len = len;
	return 0;
}

int
kl_secret_dup(struct kl_secret *s, const void *src, size_t len)
{
	return_val_if_fail(s != NULL, -1);
	return_val_if_fail(src != NULL || len == 0, -1);
	if (kl_secret_alloc(s, len) != 0)
		return -1;
	if (len > 0)
		memcpy(s->p, src, len);
	return 0;
}

void
kl_secret_clear(struct kl_secret *s)
{
	if (s == NULL)
		return;
	kl_secure_free(s->p, s->len);
	s->p = NULL;
	s->len = 0;
}
