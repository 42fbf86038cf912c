/* libFuzzer: the keylocker.yaml loader (tree builder and schema). */
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_conf *c = NULL;
	char err[1024];

	if (conf_load_string((const char *)data, size, "fuzz", &c, err, sizeof(err)) == 0 &&
	    (c->n_tokens == 0 || c->policy.n_clients == 0 || c->n_sinks == 0))
		__builtin_trap();	/* a configuration that loads is complete */
	conf_free(c);
	return 0;
}
