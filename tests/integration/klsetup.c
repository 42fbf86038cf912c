#include "tests/integration/klsetup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
kl_setup_init(struct kl_setup *s, const char *extra)
{
	const char *build = getenv("KL_BUILD_DIR");
	char cmd[2048];
	FILE *f;
	size_t n;

	memset(s, 0, sizeof(*s));
	if (build == NULL) {
		fprintf(stderr, "KL_BUILD_DIR is not set (run through ctest)\n");
		return 77;
	}
	snprintf(s->backend, sizeof(s->backend), "/usr/lib/softhsm/libsofthsm2.so");
	if (access(s->backend, R_OK) != 0) {
		fprintf(stderr, "SKIP: SoftHSM2 is not installed\n");
		return 77;
	}
	snprintf(s->module, sizeof(s->module), "%s/pkcs11/libkeylocker-pkcs11.so", build);
	snprintf(s->cli, sizeof(s->cli), "%s/tools/keylocker", build);
	snprintf(s->dir, sizeof(s->dir), "/tmp/kl-it-XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -1;
	/* init refuses an existing directory's keylocker.yaml, not the directory */
	snprintf(s->conf, sizeof(s->conf), "%s/keylocker.yaml", s->dir);
	setenv("KEYLOCKER_MODULE", s->module, 1);
	snprintf(cmd, sizeof(cmd), "%s init --dir %s --admin-pin %s --keyring-pin %s "
	    "--auditor-pin %s --pin-cost 10 --no-append-only --no-syslog --quiet %s "
	    ">/dev/null", s->cli, s->dir, KL_TEST_ADMIN_PIN, KL_TEST_KEYRING_PIN,
	    KL_TEST_AUDITOR_PIN, extra != NULL ? extra : "");
	if (system(cmd) != 0) {
		fprintf(stderr, "keylocker init failed: %s\n", cmd);
		return -1;
	}
	setenv("KEYLOCKER_CONF", s->conf, 1);
	snprintf(cmd, sizeof(cmd), "%s/softhsm2.conf", s->dir);
	setenv("SOFTHSM2_CONF", cmd, 1);
	snprintf(cmd, sizeof(cmd), "%s/backend.pin", s->dir);
	if ((f = fopen(cmd, "r")) == NULL)
		return -1;
	n = fread(s->backend_pin, 1, sizeof(s->backend_pin) - 1, f);
	fclose(f);
	s->backend_pin[n] = '\0';
	return 0;
}

int
kl_setup_append_conf(struct kl_setup *s, const char *yaml)
{
	FILE *f = fopen(s->conf, "a");

	if (f == NULL)
		return -1;
	fputs(yaml, f);
	return fclose(f) == 0 ? 0 : -1;
}

void
kl_setup_cleanup(struct kl_setup *s)
{
	char cmd[600];

	if (s->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "chattr -R -a '%s' 2>/dev/null; rm -rf '%s'", s->dir, s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
	s->dir[0] = '\0';
}
