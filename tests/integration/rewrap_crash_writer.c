/*
 * One keyring operation for tests/integration/rewrap_crash.c.  Linked with
 * kr_engine_test (crash points compiled in): with KR_TEST_CRASH_AT=n the
 * n-th step raise()s SIGKILL.
 *
 *   rewrap_crash_writer STORE MASTER rewrap LABEL
 *   rewrap_crash_writer STORE MASTER store DATA_ID HEX
 *
 * MASTER is the configured master key (new wraps).  The token comes from
 * the environment: SOFTHSM2_CONF, KR_CRASH_MODULE, KR_CRASH_PIN_FILE.
 * Exit 0 on success, 1 on failure, 2 on misuse.
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
	struct kr_report rep;
	struct kr *kr = NULL;
	unsigned char data[KR_DATA_MAX];
	char err[512];
	long n;
	int r = 1;

	if (argc < 5 || getenv("KR_CRASH_MODULE") == NULL ||
	    getenv("KR_CRASH_PIN_FILE") == NULL) {
		fprintf(stderr, "usage: rewrap_crash_writer STORE MASTER rewrap LABEL | "
		    "store DATA_ID HEX\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.path = argv[1];
	c.module = getenv("KR_CRASH_MODULE");
	c.token = (char *)"keylocker";
	c.master_key = argv[2];
	c.mac_key = (char *)"kl-mac";
	c.pin_file = getenv("KR_CRASH_PIN_FILE");
	if (kr_open(&c, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "kr_open: %s\n", err);
		return 1;
	}
	if (strcmp(argv[3], "rewrap") == 0 && argc == 5) {
		r = kr_rewrap(kr, argv[4], NULL, NULL, &rep);
	} else if (strcmp(argv[3], "store") == 0 && argc == 6) {
		n = kl_hex_decode(argv[5], strlen(argv[5]), data, sizeof(data));
		r = n <= 0 ? 2 : kr_store(kr, argv[4], NULL, "AES", data, (size_t)n);
	} else {
		fprintf(stderr, "bad operation\n");
		r = 2;
		goto out;
	}
	if (r != 0) {
		fprintf(stderr, "%s %s: %s\n", argv[3], argv[4], kr_last_error(kr));
		r = 1;
	}
 out:
	kr_close(kr);
	return r;
}
