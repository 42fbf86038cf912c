/*
 * A keyring writer and checker for tests/integration/keyring_cli.sh: the
 * engine (kr.h) over a component_keyring_pkcs11.cnf, as the component
 * would use it.
 *
 *   kr_fill CNF generate N PREFIX [LEN]  N entries PREFIX-1..N of LEN bytes
 *   kr_fill CNF store ID HEX             one entry with that value
 *   kr_fill CNF digest                   "<entries> <sha256>" over every
 *                                        (data_id, auth_id, type, value), by fetch
 *
 * Exit 0 on success, 1 on failure, 2 on misuse.
 */
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_conf.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int
digest(struct kr *kr)
{
	struct kr_meta *m = NULL;
	struct kl_secret s = { NULL, 0 };
	unsigned char md[32];
	char type[KR_TYPE_MAX + 1], hex[65];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t n = 0, i;
	int r = 1;

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    kr_list(kr, &m, &n) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (kr_fetch(kr, m[i].data_id, m[i].auth_id, &s, type) != KR_FOUND) {
			fprintf(stderr, "fetch %s: %s\n", m[i].data_id, kr_last_error(kr));
			goto out;
		}
		EVP_DigestUpdate(c, m[i].data_id, strlen(m[i].data_id) + 1);
		EVP_DigestUpdate(c, m[i].auth_id, strlen(m[i].auth_id) + 1);
		EVP_DigestUpdate(c, type, strlen(type) + 1);
		EVP_DigestUpdate(c, s.p, s.len);
		kl_secret_clear(&s);
	}
	if (EVP_DigestFinal_ex(c, md, &mdlen) != 1 ||
	    kl_hex_encode(md, sizeof(md), hex, sizeof(hex)) != 0)
		goto out;
	printf("%zu %s\n", n, hex);
	r = 0;
 out:
	kr_meta_free(m, n);
	EVP_MD_CTX_free(c);
	return r;
}

int
main(int argc, char **argv)
{
	struct kr_config *cfg = NULL;
	struct kr *kr = NULL;
	unsigned char data[KR_DATA_MAX];
	char err[1024], id[256];
	long i, n, len;
	int rl = 0, r = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: kr_fill CNF generate N PREFIX [LEN] | store ID HEX | "
		    "digest\n");
		return 2;
	}
	if (kr_conf_read_file(argv[1], 0, &cfg, &rl, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	cfg->cache = 0;
	if (kr_open(cfg, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "kr_open: %s\n", err);
		goto out;
	}
	if (strcmp(argv[2], "generate") == 0 && (argc == 5 || argc == 6)) {
		n = atol(argv[3]);
		len = argc == 6 ? atol(argv[5]) : 32;
		for (i = 1; i <= n; i++) {
			snprintf(id, sizeof(id), "%s-%ld", argv[4], i);
			if (kr_generate(kr, id, i % 3 == 0 ? "root@localhost" : NULL, "AES",
			    (size_t)len) != 0) {
				fprintf(stderr, "generate %s: %s\n", id, kr_last_error(kr));
				goto out;
			}
		}
		r = 0;
	} else if (strcmp(argv[2], "store") == 0 && argc == 5) {
		len = kl_hex_decode(argv[4], strlen(argv[4]), data, sizeof(data));
		if (len <= 0 || kr_store(kr, argv[3], NULL, "SECRET", data, (size_t)len) != 0) {
			fprintf(stderr, "store %s: %s\n", argv[3], kr_last_error(kr));
			goto out;
		}
		r = 0;
	} else if (strcmp(argv[2], "digest") == 0 && argc == 3) {
		r = digest(kr);
	} else {
		fprintf(stderr, "kr_fill: bad arguments\n");
		r = 2;
	}
 out:
	kr_close(kr);
	kr_conf_free(cfg);
	return r;
}
