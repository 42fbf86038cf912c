/*
 * audit/verify.c over logs made in memory with audit_record_format() and a
 * MAC key held by the test (the integration test uses the token): the
 * rules a real log rarely shows, such as torn records declared by a resume
 * record, sinks that lag, checkpoints without MAC, and a MAC that cannot
 * be checked.
 */
#include "tests/unit/cutest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/record.h"
#include "audit/verify.h"

static const unsigned char key[32] = "unit test audit key, 32 bytes!!";
static const unsigned char other_key[32] = "some other key, not the token's";
static const unsigned char *signing_key = key;

/* A log of n records, a checkpoint after every cp_every (0: none). */
struct log {
	struct audit_buf	 b;
	unsigned char		 head[32];
	uint64_t		 seq;
};

static void
add(struct log *l, const char *op, const char *detail, int checkpoint, int with_mac)
{
	struct audit_record r;
	unsigned char msg[AUDIT_CHECKPOINT_MSG_LEN];
	unsigned int maclen = 0;

	memset(&r, 0, sizeof(r));
	r.seq = l->seq;
	r.time = "2026-11-24T20:00:00.000000Z";
	r.host = "unit";
	r.pid = 1;
	r.op = checkpoint ? "checkpoint" : op;
	r.client = checkpoint ? NULL : "mysql";
	r.detail = detail;
	r.records = checkpoint ? "1" : NULL;
	memcpy(r.prev, l->head, 32);
	if (checkpoint && with_mac) {
		audit_checkpoint_message(l->head, l->seq, msg);
		HMAC(EVP_sha256(), signing_key, 32, msg, sizeof(msg), r.mac, &maclen);
		r.has_mac = 1;
	}
	CU_ASSERT_EQUAL_FATAL(audit_record_format(&l->b, &r, l->head), 0);
	l->seq++;
}

/* Bytes that are not a record (a torn write), with room made for them. */
static void
raw(struct log *l, const char *s)
{
	size_t n = strlen(s);
	char *p = realloc(l->b.buf, l->b.len + n + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	l->b.buf = p;
	l->b.cap = l->b.len + n + 1;
	memcpy(l->b.buf + l->b.len, s, n);
	l->b.len += n;
}

static void
make(struct log *l, int n)
{
	int i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < n; i++)
		add(l, "wrap", NULL, i % 5 == 4, 1);
}

static int calls;

static int
mac_ok(void *arg, const unsigned char *msg, size_t len, const unsigned char mac[32])
{
	unsigned char want[32];
	unsigned int n = 0;

	calls++;
	HMAC(EVP_sha256(), key, sizeof(key), msg, len, want, &n);
	return memcmp(want, mac, 32) == 0;
}

static int
mac_unavailable(void *arg, const unsigned char *msg, size_t len, const unsigned char mac[32])
{
	return -1;
}

/* Run over the given buffers; the first finding's kind, or 0. */
static int
run(const char *a, size_t alen, const char *b, size_t blen, int anchor, uint64_t aseq,
    const unsigned char ahash[32], int *status, const struct audit_finding **first)
{
	static struct audit_verify *v;
	const struct audit_finding *f;
	size_t n;

	audit_verify_free(v);
	v = audit_verify_new();
	CU_ASSERT_EQUAL_FATAL(audit_verify_add_buffer(v, "a", a, alen), 0);
	if (b != NULL)
		CU_ASSERT_EQUAL_FATAL(audit_verify_add_buffer(v, "b", b, blen), 0);
	if (anchor)
		audit_verify_set_anchor(v, aseq, ahash);
	audit_verify_set_max_uncovered(v, 40);
	*status = audit_verify_run(v, mac_ok, NULL);
	f = audit_verify_findings(v, &n);
	*first = n > 0 ? &f[0] : NULL;
	return n > 0 ? (int)f[0].kind : 0;
}

static void
test_intact(void)
{
	const struct audit_finding *f;
	struct log l;
	int st;

	make(&l, 23);
	calls = 0;
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, l.b.buf, l.b.len, 1, l.seq - 1, l.head, &st, &f), 0);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(calls, 4);	/* each distinct checkpoint once, not once per sink */
	free(l.b.buf);
}

static void
test_mac_unavailable(void)
{
	struct audit_verify *v = audit_verify_new();
	struct log l;

	make(&l, 10);
	CU_ASSERT_EQUAL(audit_verify_add_buffer(v, "a", l.b.buf, l.b.len), 0);
	CU_ASSERT_EQUAL(audit_verify_needs_mac(v), 1);
	CU_ASSERT_EQUAL(audit_verify_run(v, mac_unavailable, NULL), 2);
	audit_verify_free(v);
	free(l.b.buf);
}

static void
test_wrong_key(void)
{
	const struct audit_finding *f;
	struct log l;
	int st;

	/* a checkpoint whose MAC another key made: the chain itself is sound */
	signing_key = other_key;
	make(&l, 10);
	signing_key = key;
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), AV_BAD_MAC);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(f != NULL ? strstr(f->msg, "checkpoint record 4 (line 5)") : NULL);
	free(l.b.buf);
}

static void
test_torn_tail(void)
{
	const struct audit_finding *f;
	struct log l;
	int st;

	make(&l, 12);
	raw(&l, "{\"seq\":12,\"ti");
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 1, 9, l.head, &st, &f), AV_EDITED);
	free(l.b.buf);
	make(&l, 12);
	{
		unsigned char h11[32];
		size_t whole = l.b.len;

		memcpy(h11, l.head, 32);
		raw(&l, "{\"seq\":12,\"ti");
		CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 1, 11, h11, &st, &f), AV_NOTE_TORN);
		CU_ASSERT_EQUAL(st, 0);
		CU_ASSERT_PTR_NOT_NULL(f != NULL ? strstr(f->msg, "verified up to record 11; ") :
		    NULL);
		CU_ASSERT(f != NULL && f->kind == AV_NOTE_TORN && strstr(f->msg, "at byte") != NULL);
		(void)whole;
	}
	free(l.b.buf);
}

static void
test_torn_declared(void)
{
	const struct audit_finding *f;
	struct log l;
	int st;

	make(&l, 5);
	raw(&l, "{\"seq\":5,\"ti\n");	/* closed by the next start */
	add(&l, "resume", "torn /var/log/keylocker/audit.log 12", 0, 1);
	add(&l, "x", NULL, 1, 1);
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), AV_NOTE_TORN_CLOSED);
	CU_ASSERT_EQUAL(st, 0);
	free(l.b.buf);
	/* the same junk with no resume record to declare it is a problem */
	make(&l, 5);
	raw(&l, "{\"seq\":5,\"ti\n");
	add(&l, "start", NULL, 0, 1);
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), AV_INSERTED);
	CU_ASSERT_EQUAL(st, 1);
	free(l.b.buf);
}

static void
test_lag(void)
{
	const struct audit_finding *f;
	struct log l;
	size_t at8;
	int st;

	/* b lacks records 8 and 9: not durable yet (anchor at 7) is a note ... */
	make(&l, 8);
	{
		unsigned char h7[32];

		memcpy(h7, l.head, 32);
		at8 = l.b.len;
		add(&l, "wrap", NULL, 0, 1);
		add(&l, "wrap", NULL, 0, 1);
		CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, l.b.buf, at8, 1, 7, h7, &st, &f), AV_NOTE_LAG);
		CU_ASSERT_EQUAL(st, 0);
		/* ... but a sink without a durable record was cut short */
		CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, l.b.buf, at8 - 1, 1, 7, h7, &st, &f),
		    AV_TRUNCATED);
		CU_ASSERT_EQUAL(st, 1);
	}
	free(l.b.buf);
}

static void
test_checkpoint_without_mac(void)
{
	const struct audit_finding *f;
	struct log l;
	int st;

	memset(&l, 0, sizeof(l));
	add(&l, "wrap", NULL, 0, 1);
	add(&l, "x", "no MAC: the audit key was not available", 1, 0);
	add(&l, "wrap", NULL, 0, 1);
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), AV_UNAUTHENTICATED);
	CU_ASSERT_EQUAL(st, 1);
	/* a later checkpoint that verifies covers it */
	add(&l, "x", NULL, 1, 1);
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), 0);
	CU_ASSERT_EQUAL(st, 0);
	free(l.b.buf);
}

static void
test_checkpoints_removed(void)
{
	const struct audit_finding *f;
	struct log l;
	int i, st;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < 60; i++)
		add(&l, "wrap", NULL, 0, 1);
	CU_ASSERT_EQUAL(run(l.b.buf, l.b.len, NULL, 0, 0, 0, NULL, &st, &f), AV_UNAUTHENTICATED);
	CU_ASSERT_EQUAL(st, 1);
	free(l.b.buf);
}

static void
test_deleted_from_start(void)
{
	const struct audit_finding *f;
	struct log l;
	char *second;
	int st;

	make(&l, 10);
	second = strchr(l.b.buf, '\n') + 1;
	CU_ASSERT_EQUAL(run(second, l.b.len - (size_t)(second - l.b.buf), NULL, 0, 0, 0, NULL,
	    &st, &f), AV_DELETED);
	CU_ASSERT_PTR_NOT_NULL(f != NULL ? strstr(f->msg, "record 0 was deleted") : NULL);
	free(l.b.buf);
}

/* A careless intruder: a copy of the next record, changed, its hash not redone. */
static void
test_inserted_bad_hash(void)
{
	const struct audit_finding *f;
	struct log l;
	char *r4, *end4, *buf;
	size_t n4, at;
	int st;

	make(&l, 8);
	r4 = l.b.buf;
	for (at = 0; at < 3; at++)	/* record 3, a wrap (4 is a checkpoint) */
		r4 = strchr(r4, '\n') + 1;
	end4 = strchr(r4, '\n') + 1;
	n4 = (size_t)(end4 - r4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf = malloc(l.b.len + n4));
	at = (size_t)(r4 - l.b.buf);
	memcpy(buf, l.b.buf, at);
	memcpy(buf + at, r4, n4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(buf + at, "\"wrap\""));
	memcpy(strstr(buf + at, "\"wrap\""), "\"WRAP\"", 6);
	memcpy(buf + at + n4, r4, l.b.len - at);
	CU_ASSERT_EQUAL(run(buf, l.b.len + n4, NULL, 0, 0, 0, NULL, &st, &f), AV_INSERTED);
	CU_ASSERT_PTR_NOT_NULL(f != NULL ? strstr(f->msg, "line 4 (seq 3) was inserted") : NULL);
	free(buf);
	free(l.b.buf);
}

/* Every single-bit change and every truncation of a log is caught, and nothing crashes. */
static void
test_flip_and_truncate(void)
{
	const struct audit_finding *f;
	struct log l;
	size_t i, missed = 0;
	int st;

	make(&l, 12);
	for (i = 0; i < l.b.len; i++) {
		l.b.buf[i] ^= 0x01;
		(void)run(l.b.buf, l.b.len, NULL, 0, 1, l.seq - 1, l.head, &st, &f);
		missed += st != 1;
		l.b.buf[i] ^= 0x01;
	}
	for (i = 0; i < l.b.len; i++) {
		(void)run(l.b.buf, i, NULL, 0, 1, l.seq - 1, l.head, &st, &f);
		missed += st != 1;
	}
	CU_ASSERT_EQUAL(missed, 0);
	(void)run(l.b.buf, l.b.len, NULL, 0, 1, l.seq - 1, l.head, &st, &f);
	CU_ASSERT_EQUAL(st, 0);
	free(l.b.buf);
}

static void
test_anchor_file(void)
{
	char path[] = "/tmp/kl-anchor-XXXXXX", err[256], hex[65];
	unsigned char h[32], want[32];
	uint64_t seq = 0;
	FILE *f;
	int fd, i;

	for (i = 0; i < 32; i++)
		want[i] = (unsigned char)i;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", want[i]);
	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	CU_ASSERT_FATAL((f = fdopen(fd, "w")) != NULL);
	fprintf(f, "seq 41 hash %s\n", hex);
	fclose(f);
	CU_ASSERT_EQUAL(audit_verify_read_anchor(path, &seq, h, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(seq, 41);
	CU_ASSERT_EQUAL(memcmp(h, want, 32), 0);
	CU_ASSERT_FATAL((f = fopen(path, "w")) != NULL);
	fprintf(f, "seq 41 hash 00ff\n");
	fclose(f);
	CU_ASSERT_EQUAL(audit_verify_read_anchor(path, &seq, h, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not an audit anchor"));
	unlink(path);
	CU_ASSERT_EQUAL(audit_verify_read_anchor(path, &seq, h, err, sizeof(err)), 1);
}

void
kl_test_register(void)
{
	kl_test_add("/audit/verify/anchor_file", test_anchor_file);
	kl_test_add("/audit/verify/flip_and_truncate", test_flip_and_truncate);
	kl_test_add("/audit/verify/inserted_bad_hash", test_inserted_bad_hash);
	kl_test_add("/audit/verify/intact", test_intact);
	kl_test_add("/audit/verify/mac_unavailable", test_mac_unavailable);
	kl_test_add("/audit/verify/wrong_mac", test_wrong_key);
	kl_test_add("/audit/verify/torn_tail", test_torn_tail);
	kl_test_add("/audit/verify/torn_declared", test_torn_declared);
	kl_test_add("/audit/verify/lag", test_lag);
	kl_test_add("/audit/verify/checkpoint_without_mac", test_checkpoint_without_mac);
	kl_test_add("/audit/verify/checkpoints_removed", test_checkpoints_removed);
	kl_test_add("/audit/verify/deleted_from_start", test_deleted_from_start);
}
