/*
 * What the gate knows about objects, so that a policy decision needs no
 * backend call on the keyring's hot path:
 *  - keyring secrets it made itself (a table per slot, by lower handle);
 *  - the token's protected keys and retirement markers (a snapshot per
 *    slot, at most GATE_SNAPSHOT_MS old, refreshed at once after this process
 *    generates, retires or destroys one);
 *  - anything else is described by one C_GetAttributeValue.
 */
#include "pkcs11/gate.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/p11names.h"
#include "common/util.h"

/* See gate.h: every operation (find, sign) on an internal session holds it. */
pthread_mutex_t gate_internal_op_lock = PTHREAD_MUTEX_INITIALIZER;

static const CK_ATTRIBUTE_TYPE describe_ulongs[] = { CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE_LEN };

/* One C_GetAttributeValue for everything the policy looks at. */
static CK_RV
describe_backend(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE lower,
		 struct policy_object *o)
{
	enum { NU = 3, NF = 18 };
	CK_ATTRIBUTE t[NU + NF + 2];
	CK_ULONG ul[NU];
	CK_BBOOL b[NF];
	char label[POLICY_LABEL_MAX + 1];
	size_t i, n = 0;
	CK_RV rv;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < NU; i++) {
		ul[i] = CK_UNAVAILABLE_INFORMATION;
		t[n].type = describe_ulongs[i];
		t[n].pValue = &ul[i];
		t[n++].ulValueLen = sizeof(CK_ULONG);
	}
	for (i = 0; i < NF; i++) {
		b[i] = CK_FALSE;
		t[n].type = policy_flag_attrs[i];
		t[n].pValue = &b[i];
		t[n++].ulValueLen = sizeof(CK_BBOOL);
	}
	t[n].type = CKA_LABEL;
	t[n].pValue = label;
	t[n++].ulValueLen = POLICY_LABEL_MAX;
	t[n].type = CKA_ID;
	t[n].pValue = o->id;
	t[n++].ulValueLen = sizeof(o->id);

	rv = fl->C_GetAttributeValue(s, lower, t, n);
	/* per-attribute failures (not applicable, too long) are expected */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	o->cls = t[0].ulValueLen == sizeof(CK_ULONG) ? ul[0] : CK_UNAVAILABLE_INFORMATION;
	o->key_type = t[1].ulValueLen == sizeof(CK_ULONG) ? ul[1] : CK_UNAVAILABLE_INFORMATION;
	o->value_len = t[2].ulValueLen == sizeof(CK_ULONG) ? ul[2] : 0;
	for (i = 0; i < NF; i++) {
		if (t[NU + i].ulValueLen == sizeof(CK_BBOOL) && b[i])
			o->flags |= 1u << i;
	}
	if (t[NU + NF].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
	    t[NU + NF].ulValueLen <= POLICY_LABEL_MAX) {
		memcpy(o->label, label, t[NU + NF].ulValueLen);
		o->label[t[NU + NF].ulValueLen] = '\0';
		if (strlen(o->label) != t[NU + NF].ulValueLen)
			o->label[0] = '\0';
	}
	if (t[NU + NF + 1].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
	    t[NU + NF + 1].ulValueLen <= sizeof(o->id))
		o->id_len = t[NU + NF + 1].ulValueLen;
	if (o->cls == CK_UNAVAILABLE_INFORMATION)
		return CKR_OBJECT_HANDLE_INVALID;
	return CKR_OK;
}

/* Find every token object of one class; *out is malloc'ed. */
static CK_RV
find_all(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
	 CK_OBJECT_HANDLE **out, size_t *n)
{
	CK_BBOOL tok = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &tok, sizeof(tok) },
	};
	CK_OBJECT_HANDLE batch[64], *all = NULL, *grown;
	CK_ULONG got;
	size_t cap = 0;
	CK_RV rv;

	*out = NULL;
	*n = 0;
	if ((rv = fl->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		return rv;
	for (;;) {
		if ((rv = fl->C_FindObjects(s, batch, 64, &got)) != CKR_OK || got == 0)
			break;
		if (got > 64 || *n + got > 100000) {
			rv = CKR_DEVICE_ERROR;	/* a backend that lies about counts */
			break;
		}
		if (*n + got > cap) {
			cap = (*n + got) * 2;
			if ((grown = realloc(all, cap * sizeof(*all))) == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			all = grown;
		}
		memcpy(all + *n, batch, got * sizeof(*batch));
		*n += got;
	}
	(void)fl->C_FindObjectsFinal(s);
	if (rv != CKR_OK) {
		free(all);
		*n = 0;
		return rv;
	}
	*out = all;
	return CKR_OK;
}

void
gate_snapshot_free(struct gate_snapshot *s)
{
	free(s->objs);
	free(s->handles);
	memset(s, 0, sizeof(*s));
}

void
gate_snapshot_invalidate(struct gate *g, size_t slot)
{
	pthread_mutex_lock(&g->lock);
	g->slots[slot].snap.taken_ms = 0;
	pthread_mutex_unlock(&g->lock);
}

/* Build a fresh snapshot of slot's protected keys and markers. */
static CK_RV
snapshot_take(struct gate *g, size_t slot, struct gate_snapshot *out)
{
	CK_FUNCTION_LIST_PTR fl = token_lower(g->tok);
	CK_OBJECT_HANDLE *keys = NULL, *data = NULL;
	struct policy_object o;
	CK_SESSION_HANDLE s;
	size_t nk = 0, nd = 0, i, j, m;
	uint32_t epoch;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	if ((rv = token_internal_session(g->tok, slot, &s, &epoch)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&gate_internal_op_lock);
	rv = find_all(fl, s, CKO_SECRET_KEY, &keys, &nk);
	if (rv == CKR_OK)
		rv = find_all(fl, s, CKO_DATA, &data, &nd);
	pthread_mutex_unlock(&gate_internal_op_lock);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_HOST_MEMORY;
	if (nk + nd > 0 && ((out->objs = calloc(nk + nd, sizeof(*out->objs))) == NULL ||
	    (out->handles = calloc(nk + nd, sizeof(*out->handles))) == NULL))
		goto out;
	for (i = 0; i < nk + nd; i++) {
		CK_OBJECT_HANDLE h = i < nk ? keys[i] : data[i - nk];

		if (describe_backend(fl, s, h, &o) != CKR_OK)
			continue;	/* destroyed meanwhile */
		policy_classify(&g->conf->policy, &o);
		if (o.kind == POLICY_KIND_OTHER)
			continue;
		out->objs[out->n] = o;
		out->handles[out->n] = h;
		out->n++;
	}
	/* a marker "keylocker-retired:LABEL" retires the master key LABEL */
	for (i = 0; i < out->n; i++) {
		if (out->objs[i].kind != POLICY_KIND_MARKER)
			continue;
		m = sizeof(POLICY_RETIRED_PREFIX) - 1;
		for (j = 0; j < out->n; j++) {
			if (out->objs[j].kind == POLICY_KIND_MASTER &&
			    strcmp(out->objs[j].label, out->objs[i].label + m) == 0)
				out->objs[j].retired = 1;
		}
	}
	out->epoch = epoch;
	out->taken_ms = kl_monotonic_ms();
	if (out->taken_ms == 0)
		out->taken_ms = 1;
	rv = CKR_OK;
 out:
	free(keys);
	free(data);
	if (rv != CKR_OK)
		gate_snapshot_free(out);
	return rv;
}

/* Make sure slot's snapshot is fresh. */
static CK_RV
snapshot_refresh(struct gate *g, size_t slot, int force)
{
	struct gate_snapshot fresh, old;
	uint64_t now = kl_monotonic_ms();
	uint32_t epoch = token_slot_epoch(g->tok, slot);
	int stale;
	CK_RV rv;

	pthread_mutex_lock(&g->lock);
	stale = force || g->slots[slot].snap.taken_ms == 0 ||
	    g->slots[slot].snap.epoch != epoch ||
	    now - g->slots[slot].snap.taken_ms >= GATE_SNAPSHOT_MS;
	pthread_mutex_unlock(&g->lock);
	if (!stale)
		return CKR_OK;
	if ((rv = snapshot_take(g, slot, &fresh)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&g->lock);
	old = g->slots[slot].snap;
	g->slots[slot].snap = fresh;
	pthread_mutex_unlock(&g->lock);
	gate_snapshot_free(&old);
	return CKR_OK;
}

/* Copy the snapshot entry for lower, if any: 1 found, 0 not. */
static int
snapshot_lookup(struct gate *g, size_t slot, uint32_t epoch, CK_OBJECT_HANDLE lower,
		struct policy_object *o)
{
	struct gate_snapshot *s;
	size_t i;
	int found = 0;

	pthread_mutex_lock(&g->lock);
	s = &g->slots[slot].snap;
	if (s->taken_ms != 0 && s->epoch == epoch) {
		for (i = 0; i < s->n; i++) {
			if (s->handles[i] == lower) {
				*o = s->objs[i];
				found = 1;
				break;
			}
		}
	}
	pthread_mutex_unlock(&g->lock);
	return found;
}

CK_RV
gate_describe(struct gate_call *c, CK_OBJECT_HANDLE lower, struct policy_object *o)
{
	struct gate *g = c->g;
	struct gate_secret sec;
	CK_RV rv;

	if (gate_secret_find(g, c->ref.slot, lower, c->ref.epoch, &sec)) {
		memset(o, 0, sizeof(*o));
		o->cls = CKO_SECRET_KEY;
		o->key_type = CKK_GENERIC_SECRET;
		o->flags = POLICY_F_PRIVATE | POLICY_F_EXTRACTABLE;
		o->kind = POLICY_KIND_SECRET;
		o->own_session = sec.owner == c->h;
		kl_strlcpy(o->label, sec.label, sizeof(o->label));
		return CKR_OK;
	}
	(void)snapshot_refresh(g, c->ref.slot, 0);
	if (snapshot_lookup(g, c->ref.slot, c->ref.epoch, lower, o))
		return CKR_OK;
	if ((rv = describe_backend(token_lower(g->tok), c->ref.lower, lower, o)) != CKR_OK)
		return rv;
	policy_classify(&g->conf->policy, o);
	if (o->kind != POLICY_KIND_OTHER) {
		/* protected but not in the snapshot: new since; retake it for retirement */
		if (snapshot_refresh(g, c->ref.slot, 1) == CKR_OK)
			(void)snapshot_lookup(g, c->ref.slot, c->ref.epoch, lower, o);
	}
	return CKR_OK;
}

CK_RV
gate_protected(struct gate_call *c, struct policy_object **objs, size_t *n)
{
	struct gate_snapshot *s;
	size_t i;
	CK_RV rv;

	*objs = NULL;
	*n = 0;
	if ((rv = snapshot_refresh(c->g, c->ref.slot, 0)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&c->g->lock);
	s = &c->g->slots[c->ref.slot].snap;
	if (s->n > 0 && (*objs = calloc(s->n, sizeof(**objs))) == NULL) {
		pthread_mutex_unlock(&c->g->lock);
		return CKR_HOST_MEMORY;
	}
	for (i = 0; i < s->n; i++) {
		if (s->objs[i].kind != POLICY_KIND_MARKER)
			(*objs)[(*n)++] = s->objs[i];
	}
	pthread_mutex_unlock(&c->g->lock);
	return CKR_OK;
}

CK_RV
gate_find_master(struct gate_call *c, const char *label, struct policy_object *o)
{
	struct gate_snapshot *s;
	size_t i;
	CK_RV rv;

	if ((rv = snapshot_refresh(c->g, c->ref.slot, 1)) != CKR_OK)
		return rv;
	rv = CKR_OBJECT_HANDLE_INVALID;
	pthread_mutex_lock(&c->g->lock);
	s = &c->g->slots[c->ref.slot].snap;
	for (i = 0; i < s->n; i++) {
		if (s->objs[i].kind == POLICY_KIND_MASTER && strcmp(s->objs[i].label, label) == 0) {
			*o = s->objs[i];
			rv = CKR_OK;
			break;
		}
	}
	pthread_mutex_unlock(&c->g->lock);
	return rv;
}

/* ---- keyring secrets ---------------------------------------------------- */

int
gate_secret_add(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower, uint32_t epoch,
		CK_SESSION_HANDLE owner, const char *label)
{
	struct gate_slot *gs = &g->slots[slot];
	struct gate_secret *e;

	pthread_mutex_lock(&g->lock);
	if (gs->n_secrets == gs->cap_secrets) {
		size_t cap = gs->cap_secrets == 0 ? 16 : gs->cap_secrets * 2;

		if (cap > GATE_SECRETS_MAX ||
		    (e = realloc(gs->secrets, cap * sizeof(*e))) == NULL) {
			pthread_mutex_unlock(&g->lock);
			return -1;
		}
		gs->secrets = e;
		gs->cap_secrets = cap;
	}
	e = &gs->secrets[gs->n_secrets++];
	e->lower = lower;
	e->epoch = epoch;
	e->owner = owner;
	kl_strlcpy(e->label, label != NULL ? label : "", sizeof(e->label));
	pthread_mutex_unlock(&g->lock);
	return 0;
}

int
gate_secret_find(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower, uint32_t epoch,
		 struct gate_secret *out)
{
	struct gate_slot *gs = &g->slots[slot];
	size_t i;
	int found = 0;

	pthread_mutex_lock(&g->lock);
	for (i = gs->n_secrets; i-- > 0;) {
		if (gs->secrets[i].lower == lower && gs->secrets[i].epoch == epoch) {
			*out = gs->secrets[i];
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return found;
}

void
gate_secret_remove(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower)
{
	struct gate_slot *gs = &g->slots[slot];
	size_t i;

	pthread_mutex_lock(&g->lock);
	for (i = 0; i < gs->n_secrets; i++) {
		if (gs->secrets[i].lower == lower) {
			gs->secrets[i] = gs->secrets[--gs->n_secrets];
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
}

/*
 * An entry leaves the table only once its object is gone: when the backend
 * destroyed it (destroy 0: its session closed), when it belonged to an
 * earlier backend epoch, or after our C_DestroyObject.  If the object cannot
 * be destroyed (no memory, no internal session, the backend refuses), its
 * entry stays and the secret stays protected: a forgotten secret would be an
 * ordinary object to the next client.
 */
void
gate_secrets_drop(struct gate_call *c, CK_SESSION_HANDLE owner, int all, int destroy)
{
	struct gate_slot *gs = &c->g->slots[c->ref.slot];
	CK_FUNCTION_LIST_PTR fl = token_lower(c->g->tok);
	CK_OBJECT_HANDLE *doomed = NULL;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	size_t i = 0, n = 0, kept = 0;
	uint32_t epoch = 0;
	int can = 0;

	if (destroy)
		can = token_internal_session(c->g->tok, c->ref.slot, &s, &epoch) == CKR_OK;
	pthread_mutex_lock(&c->g->lock);
	if (can && gs->n_secrets > 0 && (doomed = calloc(gs->n_secrets, sizeof(*doomed))) == NULL)
		can = 0;
	while (i < gs->n_secrets) {
		struct gate_secret *e = &gs->secrets[i];

		if (!all && e->owner != owner) {
			i++;
		} else if (!destroy || (can && e->epoch != epoch)) {
			*e = gs->secrets[--gs->n_secrets];	/* gone with its session or epoch */
		} else if (can) {
			doomed[n++] = e->lower;			/* leaves once destroyed */
			i++;
		} else {
			kept++;
			i++;
		}
	}
	pthread_mutex_unlock(&c->g->lock);
	for (i = 0; i < n; i++) {
		rv = fl->C_DestroyObject(s, doomed[i]);
		if (rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID)
			gate_secret_remove(c->g, c->ref.slot, doomed[i]);
		else
			kept++;
	}
	free(doomed);
	if (kept > 0)
		kl_warn("%zu keyring secret(s) could not be destroyed at logout; they stay "
		    "protected until their session closes", kept);
}
