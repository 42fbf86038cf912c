/*
 * Client PINs are stored only as salted scrypt hashes, in a PHC-like string:
 *   $scrypt$ln=15,r=8,p=1$<base64 salt>$<base64 hash>
 * Pure computation: no I/O besides the RNG for a new salt.
 */
#ifndef POLICY_PIN_H
#define POLICY_PIN_H

#include <stddef.h>

#define PIN_HASH_MAX	160	/* longest string policy_pin_hash() writes, with NUL */
#define PIN_LN_DEFAULT	15	/* N = 2^15: ~32 MiB and ~0.1 s per try */
#define PIN_LN_MIN	10
#define PIN_LN_MAX	20

/* Hash pin into out.  Returns 0, or -1 (bad cost or RNG/KDF failure). */
int	policy_pin_hash(const void *pin, size_t pinlen, unsigned ln, char *out,
			size_t outlen) __attribute__((warn_unused_result));
/* 1: pin matches; 0: it does not; -1: hash is malformed (see policy_pin_check). */
int	policy_pin_verify(const char *hash, const void *pin, size_t pinlen)
	__attribute__((warn_unused_result));
/* NULL when hash is well formed, else a static sentence saying what is wrong. */
const char *policy_pin_check(const char *hash);

#endif
