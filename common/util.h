/* Small helpers shared by every layer: no policy, no PKCS#11 state. */
#ifndef KL_UTIL_H
#define KL_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct kl_secret;

#define KL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copy with truncation; always NUL-terminates when dstlen > 0.  Returns strlen(src). */
size_t	kl_strlcpy(char *dst, const char *src, size_t dstlen);

/* Lower-case hex of len bytes into out (needs 2*len+1).  Returns 0, or -1 if short. */
int	kl_hex_encode(const void *in, size_t len, char *out, size_t outlen);
/* Decode exactly inlen hex digits (even) into out.  Returns bytes written or -1. */
long	kl_hex_decode(const char *in, size_t inlen, void *out, size_t outlen);

/*
 * Fixed-width PKCS#11 strings (labels, manufacturer IDs) are blank padded and
 * not NUL terminated.  fill pads src into dst[dstlen]; trim copies the
 * significant part of src[srclen] into a C string.
 */
void	kl_p11_strfill(unsigned char *dst, size_t dstlen, const char *src);
void	kl_p11_strtrim(const unsigned char *src, size_t srclen, char *dst, size_t dstlen);

/*
 * Read a small secret (a PIN) from a file that only its owner may read, like
 * ssh does with private keys: it must be a regular file, owned by the
 * effective user or root, with no group or other permission bits.  One
 * trailing newline is dropped.  On error returns -1 and writes a sentence
 * into err.
 */
int	kl_read_secret_file(const char *path, struct kl_secret *out, char *err, size_t errlen);

/* The last byte c in p[0..len), or NULL (memrchr without _GNU_SOURCE). */
void	*kl_memrchr(const void *p, int c, size_t len);

/* fsync() the directory holding path (after a rename).  0 or -1 with errno. */
int	kl_fsync_parent_dir(const char *path);

/* "2026-11-24T17:25:00.123456Z" into buf[32]. */
void	kl_utc_timestamp(char buf[32]);

/* Monotonic milliseconds. */
uint64_t kl_monotonic_ms(void);

#endif
