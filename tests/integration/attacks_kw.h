/*
 * RFC 3394 (AES key wrap) and RFC 5649 (with padding) built on a one-block
 * AES oracle, for the attack suite: a token that lets a master key do
 * AES-ECB (or CBC with a zero IV, or CTR) gives exactly such an oracle, and
 * with it every blob wrapped under that key can be unwrapped, or forged,
 * outside the token.  The software oracle (atk_aes_*) checks recovered keys.
 */
#ifndef ATTACKS_KW_H
#define ATTACKS_KW_H

#include <stddef.h>

/* One AES block through some oracle: 0, or -1 (the oracle refused; it keeps why). */
typedef int (*atk_block_fn)(void *arg, const unsigned char in[16], unsigned char out[16]);

enum atk_kw_result {
	ATK_KW_OK = 0,
	ATK_KW_ORACLE = -1,	/* the oracle refused a block */
	ATK_KW_INTEGRITY = -2,	/* unwrapped, but the integrity check failed */
	ATK_KW_LENGTH = -3,	/* input or output length out of range */
};

/*
 * Unwrap in[inlen] (pad: RFC 5649, else RFC 3394) with dec as AES^-1.
 * out needs inlen - 8 bytes; *outlen gets the key length.
 */
enum atk_kw_result atk_kw_unwrap(int pad, atk_block_fn dec, void *arg,
				 const unsigned char *in, size_t inlen,
				 unsigned char *out, size_t *outlen);

/* Wrap in[inlen] with enc as AES.  out needs inlen + 16 bytes. */
enum atk_kw_result atk_kw_wrap(int pad, atk_block_fn enc, void *arg,
			       const unsigned char *in, size_t inlen,
			       unsigned char *out, size_t *outlen);

/* A key held in software (16, 24 or 32 bytes), as an oracle argument. */
struct atk_soft_key {
	unsigned char	k[32];
	size_t		len;
};

int	atk_aes_enc(void *soft_key, const unsigned char in[16], unsigned char out[16]);
int	atk_aes_dec(void *soft_key, const unsigned char in[16], unsigned char out[16]);

#endif
