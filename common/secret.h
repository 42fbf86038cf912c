/*
 * Memory for secrets (PINs, unwrapped keys): taken from mlock()ed pages that
 * are excluded from core dumps, and always wiped when released.  When the
 * process may not lock memory (RLIMIT_MEMLOCK) the pages are still wiped and
 * kept out of core dumps; kl_secure_locked() says so, once, for status output.
 */
#ifndef KL_SECRET_H
#define KL_SECRET_H

#include <stddef.h>

struct kl_secret {
	unsigned char	*p;
	size_t		 len;
};

/* Zeroed secure memory of len bytes (len > 0), or NULL. */
void	*kl_secure_alloc(size_t len) __attribute__((warn_unused_result));
/* Wipe and release; len must be the length given to kl_secure_alloc. NULL-safe. */
void	 kl_secure_free(void *p, size_t len);
/* 1 while every page handed out so far is locked in RAM, else 0. */
int	 kl_secure_locked(void);
/* Bytes of secure memory in use (for tests and status). */
size_t	 kl_secure_in_use(void);

/* 0 on success, -1 (and *s empty) when memory is short. */
int	 kl_secret_alloc(struct kl_secret *s, size_t len) __attribute__((warn_unused_result));
int	 kl_secret_dup(struct kl_secret *s, const void *src, size_t len)
	__attribute__((warn_unused_result));
/* Wipe, free and empty *s.  NULL-safe, idempotent. */
void	 kl_secret_clear(struct kl_secret *s);

#endif
