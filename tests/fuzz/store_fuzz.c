/*
 * libFuzzer: the keyring store parser.  The MAC is stubbed to "valid" so the
 * fuzzer reaches the strict parse behind it, which in production only runs
 * on bytes the token's MAC key vouched for.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyring-bridge/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
sign_any(void *ctx, const unsigned char d[KR_STORE_DIGEST_LEN],
	 unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	memset(mac, 0, KR_STORE_MAC_LEN);
	return 0;
}

static int
verify_any(void *ctx, const unsigned char d[KR_STORE_DIGEST_LEN],
	   const unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kr_mac_ops mac = { sign_any, verify_any, NULL, "fuzz MAC" };
	unsigned char digest[KR_STORE_DIGEST_LEN], *again = NULL;
	struct kr_set *set = NULL;
	char err[512];
	size_t len = 0, i;

	if (kr_store_parse(data, size, "fuzz", &mac, &set, digest, err, sizeof(err)) != 0)
		return 0;
	for (i = 0; i < kr_set_count(set); i++) {
		struct kr_entry *e = kr_set_entry(set, i);

		if (kr_set_find(set, e->data_id, e->auth_id) != e)
			__builtin_trap();	/* the index finds every entry */
	}
	/* a store that parses serialises back to the same bytes */
	if (kr_store_serialize(set, kr_set_generation(set), NULL, NULL, &again, &len,
	    err, sizeof(err)) != 0 || len != size ||
	    memcmp(again, data, size - KR_STORE_MAC_LEN) != 0)
		__builtin_trap();
	free(again);
	kr_set_free(set);
	return 0;
}
