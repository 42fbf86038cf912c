#include "common/p11names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *
kl_p11name(const struct kl_p11name *t, CK_ULONG v, char buf[24])
{
	for (; t->name != NULL; t++) {
		if (t->value == v)
			return t->name;
	}
	snprintf(buf, 24, "0x%lx", (unsigned long)v);
	return buf;
}

int
kl_p11value(const struct kl_p11name *t, const char *name, CK_ULONG *out)
{
	for (; t->name != NULL; t++) {
		if (strcasecmp(t->name, name) == 0 || strcasecmp(t->name + 4, name) == 0) {
			*out = t->value;
			return 0;
		}
	}
	return -1;
}

static _Thread_local char name_buf[3][24];

const char *
kl_ckr(CK_RV rv)
{
	return kl_p11name(kl_p11names_ckr, rv, name_buf[0]);
}

const char *
kl_ckm(CK_MECHANISM_TYPE m)
{
	return kl_p11name(kl_p11names_ckm, m, name_buf[1]);
}

const char *
kl_cka(CK_ATTRIBUTE_TYPE a)
{
	return kl_p11name(kl_p11names_cka, a, name_buf[2]);
}
