#include "policy/pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SALT_LEN	16
#define HASH_LEN	32
#define B64_MAX		64	/* base64 of up to 45 bytes */

struct pin_params {
	unsigned	 ln, r, p;
	unsigned char	 salt[SALT_LEN];
	unsigned char	 hash[HASH_LEN];
};

static int
derive(const void *pin, size_t pinlen, const struct pin_params *pp,
       unsigned char out[HASH_LEN])
{
	uint64_t n = (uint64_t)1 << pp->ln;
	/* scrypt needs 128*r*N bytes (plus a little); allow exactly that */
	uint64_t maxmem = 128ULL * pp->r * (n + pp->p + 2);

	return EVP_PBE_scrypt(pin, pinlen, pp->salt, SALT_LEN, n, pp->r, pp->p,
	    maxmem, out, HASH_LEN) == 1 ? 0 : -1;
}

static int
b64_decode_exact(const char *in, size_t inlen, unsigned char *out, size_t want)
{
	unsigned char buf[B64_MAX];
	int n;

	if (inlen == 0 || inlen > B64_MAX || inlen % 4 != 0)
		return -1;
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)inlen)) < 0)
		return -1;
	/* EVP_DecodeBlock counts padding as data: subtract it */
	if (in[inlen - 1] == '=')
		n--;
	if (in[inlen - 2] == '=')
		n--;
	if ((size_t)n != want)
		return -1;
	memcpy(out, buf, want);
	return 0;
}

/* Parse "$scrypt$ln=..,r=..,p=..$salt$hash"; static message on error. */
static const char *
parse(const char *s, struct pin_params *pp)
{
	const char *salt, *hash, *end;
	char tail;

	if (strncmp(s, "$scrypt$", 8) != 0)
		return "does not start with $scrypt$: make it with `keylocker pin-hash`";
	if (sscanf(s + 8, "ln=%u,r=%u,p=%u%c", &pp->ln, &pp->r, &pp->p, &tail) != 4 ||
	    tail != '$')
		return "has no valid ln=,r=,p= parameters";
	if (pp->ln < PIN_LN_MIN || pp->ln > PIN_LN_MAX || pp->r < 1 || pp->r > 32 ||
	    pp->p < 1 || pp->p > 16)
		return "has scrypt parameters out of range (ln 10..20, r 1..32, p 1..16)";
	if ((salt = strchr(s + 8, '$')) == NULL)
		return "has no salt";
	salt++;
	if ((hash = strchr(salt, '$')) == NULL)
		return "has no hash";
	hash++;
	end = hash + strlen(hash);
	if (b64_decode_exact(salt, (size_t)(hash - 1 - salt), pp->salt, SALT_LEN) != 0)
		return "has a salt that is not 16 bytes of base64";
	if (b64_decode_exact(hash, (size_t)(end - hash), pp->hash, HASH_LEN) != 0)
		return "has a hash that is not 32 bytes of base64";
	return NULL;
}

const char *
policy_pin_check(const char *hash)
{
	struct pin_params pp;

	return parse(hash, &pp);
}

int
policy_pin_hash(const void *pin, size_t pinlen, unsigned ln, char *out, size_t outlen)
{
	struct pin_params pp = { .ln = ln, .r = 8, .p = 1 };
	char salt64[B64_MAX + 1], hash64[B64_MAX + 1];
	int r = -1;

	if (ln < PIN_LN_MIN || ln > PIN_LN_MAX || outlen < PIN_HASH_MAX)
		goto out;
	if (RAND_bytes(pp.salt, SALT_LEN) != 1 || derive(pin, pinlen, &pp, pp.hash) != 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)salt64, pp.salt, SALT_LEN);
	EVP_EncodeBlock((unsigned char *)hash64, pp.hash, HASH_LEN);
	snprintf(out, outlen, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", pp.ln, pp.r, pp.p,
	    salt64, hash64);
	r = 0;
 out:
	OPENSSL_cleanse(&pp, sizeof(pp));
	return r;
}

int
policy_pin_verify(const char *hash, const void *pin, size_t pinlen)
{
	struct pin_params pp;
	unsigned char got[HASH_LEN];
	int r = -1;

	if (parse(hash, &pp) != NULL)
		goto out;
	if (derive(pin, pinlen, &pp, got) != 0)
		goto out;
	r = CRYPTO_memcmp(got, pp.hash, HASH_LEN) == 0 ? 1 : 0;
 out:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(&pp, sizeof(pp));
	return r;
}
