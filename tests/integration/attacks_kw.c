#include "tests/integration/attacks_kw.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KW_MAX_BLOCKS	64		/* 512-byte keys: more than any test needs */

static const unsigned char kw_iv[8] = { 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6 };
static const unsigned char kwp_iv[4] = { 0xa6, 0x59, 0x59, 0xa6 };

/* A ^= t, t as a 64-bit big-endian integer (RFC 3394, 2.2.1). */
static void
xor_t(unsigned char a[8], unsigned long long t)
{
	int i;

	for (i = 7; i >= 0; i--) {
		a[i] ^= (unsigned char)(t & 0xff);
		t >>= 8;
	}
}

enum atk_kw_result
atk_kw_unwrap(int pad, atk_block_fn dec, void *arg, const unsigned char *in, size_t inlen,
	      unsigned char *out, size_t *outlen)
{
	unsigned char a[8], r[KW_MAX_BLOCKS][8], b[16], blk[16];
	size_t n, i, mli;
	int j;
	enum atk_kw_result res = ATK_KW_INTEGRITY;

	*outlen = 0;
	if (inlen % 8 != 0 || inlen < 16 || inlen / 8 - 1 > KW_MAX_BLOCKS ||
	    (!pad && inlen < 24))
		return ATK_KW_LENGTH;
	n = inlen / 8 - 1;
	if (n == 1) {
		/* RFC 5649, 4.2: one block is a single AES decryption */
		if (dec(arg, in, b) != 0)
			return ATK_KW_ORACLE;
		memcpy(a, b, 8);
		memcpy(r[0], b + 8, 8);
	} else {
		/* RFC 3394, 2.2.2, index-based */
		memcpy(a, in, 8);
		for (i = 0; i < n; i++)
			memcpy(r[i], in + 8 * (i + 1), 8);
		for (j = 5; j >= 0; j--) {
			for (i = n; i >= 1; i--) {
				memcpy(blk, a, 8);
				xor_t(blk, (unsigned long long)n * (unsigned)j + i);
				memcpy(blk + 8, r[i - 1], 8);
				if (dec(arg, blk, b) != 0) {
					res = ATK_KW_ORACLE;
					goto out;
				}
				memcpy(a, b, 8);
				memcpy(r[i - 1], b + 8, 8);
			}
		}
	}
	if (!pad) {
		if (CRYPTO_memcmp(a, kw_iv, 8) != 0)
			goto out;
		mli = 8 * n;
	} else {
		/* RFC 5649, 3: AIV = A65959A6 || MLI, then zero padding */
		if (CRYPTO_memcmp(a, kwp_iv, 4) != 0)
			goto out;
		mli = ((size_t)a[4] << 24) | ((size_t)a[5] << 16) | ((size_t)a[6] << 8) | a[7];
		if (mli <= 8 * (n - 1) || mli > 8 * n)
			goto out;
		for (i = mli; i < 8 * n; i++) {
			if (r[i / 8][i % 8] != 0)
				goto out;
		}
	}
	for (i = 0; i < n; i++)
		memcpy(out + 8 * i, r[i], 8);
	*outlen = mli;
	res = ATK_KW_OK;
 out:
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(b, sizeof(b));
	OPENSSL_cleanse(blk, sizeof(blk));
	return res;
}

enum atk_kw_result
atk_kw_wrap(int pad, atk_block_fn enc, void *arg, const unsigned char *in, size_t inlen,
	    unsigned char *out, size_t *outlen)
{
	unsigned char a[8], r[KW_MAX_BLOCKS][8], b[16], blk[16];
	size_t n, i;
	int j;
	enum atk_kw_result res = ATK_KW_ORACLE;

	*outlen = 0;
	if (inlen == 0 || (!pad && (inlen % 8 != 0 || inlen < 16)) ||
	    (inlen + 7) / 8 > KW_MAX_BLOCKS)
		return ATK_KW_LENGTH;
	n = (inlen + 7) / 8;
	memset(r, 0, sizeof(r));
	for (i = 0; i < inlen; i++)
		r[i / 8][i % 8] = in[i];
	if (pad) {
		memcpy(a, kwp_iv, 4);
		a[4] = (unsigned char)(inlen >> 24);
		a[5] = (unsigned char)(inlen >> 16);
		a[6] = (unsigned char)(inlen >> 8);
		a[7] = (unsigned char)inlen;
	} else {
		memcpy(a, kw_iv, 8);
	}
	if (n == 1) {
		memcpy(blk, a, 8);
		memcpy(blk + 8, r[0], 8);
		if (enc(arg, blk, out) != 0)
			goto out;
		*outlen = 16;
		res = ATK_KW_OK;
		goto out;
	}
	for (j = 0; j <= 5; j++) {
		for (i = 1; i <= n; i++) {
			memcpy(blk, a, 8);
			memcpy(blk + 8, r[i - 1], 8);
			if (enc(arg, blk, b) != 0)
				goto out;
			memcpy(a, b, 8);
			xor_t(a, (unsigned long long)n * (unsigned)j + i);
			memcpy(r[i - 1], b + 8, 8);
		}
	}
	memcpy(out, a, 8);
	for (i = 0; i < n; i++)
		memcpy(out + 8 * (i + 1), r[i], 8);
	*outlen = 8 * (n + 1);
	res = ATK_KW_OK;
 out:
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(b, sizeof(b));
	OPENSSL_cleanse(blk, sizeof(blk));
	return res;
}

static int
aes_block(const struct atk_soft_key *key, int encrypt, const unsigned char in[16],
	  unsigned char out[16])
{
	const EVP_CIPHER *c = key->len == 16 ? EVP_aes_128_ecb() :
	    key->len == 24 ? EVP_aes_192_ecb() : key->len == 32 ? EVP_aes_256_ecb() : NULL;
	EVP_CIPHER_CTX *ctx;
	int n = 0, ok;

	if (c == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_CipherInit_ex(ctx, c, NULL, key->k, NULL, encrypt) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, 16) == 1 && n == 16;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
atk_aes_enc(void *soft_key, const unsigned char in[16], unsigned char out[16])
{
	return aes_block(soft_key, 1, in, out);
}

int
atk_aes_dec(void *soft_key, const unsigned char in[16], unsigned char out[16])
{
	return aes_block(soft_key, 0, in, out);
}
