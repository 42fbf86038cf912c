/*
 * One keyring write, for tests/integration/store_crash.c.  Linked with
 * kr_engine_test (crash points compiled in): with KR_TEST_CRASH_AT=n the
 * n-th step of the write protocol raise()s SIGKILL.
 *
 *   store_crash_writer <store> store <data_id> <hex data>
 *   store_crash_writer <store> generate <data_id> <length>
 *   store_crash_writer <store> remove <data_id>
 *
 * The token comes from the environment: SOFTHSM2_CONF, KR_CRASH_MODULE,
 * KR_CRASH_PIN_FILE.  Exit 0 on success, 1 on failure, 2 on misuse.
 */
#include "keyring-bridge/kr.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	struct kr_config c;
	struct kr *kr = NULL;
	unsigned char data[KR_DATA_MAX];
	char err[512];
	long n;
	int r = 1;

	if (argc < 4 || getenv("KR_CRASH_MODULE") == NULL ||
	    getenv("KR_CRASH_PIN_FILE") == NULL) {
		fprintf(stderr, "usage: store_crash_writer STORE store|generate|remove "
		    "DATA_ID [HEX|LEN]\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.path = argv[1];
	c.module = getenv("KR_CRASH_MODULE");
	c.token = (char *)"keylocker";
	c.master_key = (char *)"kl-master";
	c.mac_key = (char *)"kl-mac";
	c.pin_file = getenv("KR_CRASH_PIN_FILE");
	c.cache = 0;
	if (kr_open(&c, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "kr_open: %s\n", err);
		return 1;
	}
	if (strcmp(argv[2], "store") == 0 && argc == 5) {
		n = kl_hex_decode(argv[4], strlen(argv[4]), data, sizeof(data));
		if (n <= 0) {
			fprintf(stderr, "bad hex\n");
			r = 2;
			goto out;
		}
		r = kr_store(kr, argv[3], NULL, "AES", data, (size_t)n);
	} else if (strcmp(argv[2], "generate") == 0 && argc == 5) {
		r = kr_generate(kr, argv[3], NULL, "AES", (size_t)atol(argv[4]));
	} else if (strcmp(argv[2], "remove") == 0 && argc == 4) {
		r = kr_remove(kr, argv[3], NULL);
	} else {
		fprintf(stderr, "bad operation\n");
		r = 2;
		goto out;
	}
	if (r != 0) {
		fprintf(stderr, "%s %s: %s\n", argv[2], argv[3], kr_last_error(kr));
		r = 1;
	}
 out:
	kr_close(kr);
	return r;
}
