#include "audit/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/util.h"

/* ---- formatting ------------------------------------------------------------- */

static int
reserve(struct audit_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap == 0 ? 16384 : b->cap;
	while (cap < b->len + more)
		cap *= 2;
	if ((p = realloc(b->buf, cap)) == NULL)
		return -1;
	b->buf = p;
	b->cap = cap;
	return 0;
}

static void
put(struct audit_buf *b, const char *s, size_t n)
{
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

static void
put_str(struct audit_buf *b, const char *key, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	if (v == NULL || v[0] == '\0')
		return;
	b->len += (size_t)sprintf(b->buf + b->len, ",\"%s\":\"", key);
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			b->buf[b->len++] = '\\';
			b->buf[b->len++] = (char)*p;
		} else if (*p < 0x20 || *p > 0x7e) {
			put(b, "\\u00", 4);
			b->buf[b->len++] = hex[*p >> 4];
			b->buf[b->len++] = hex[*p & 0xf];
		} else {
			b->buf[b->len++] = (char)*p;
		}
	}
	b->buf[b->len++] = '"';
}

static void
put_hex(struct audit_buf *b, const char *key, const unsigned char v[32])
{
	char hex[65];

	kl_hex_encode(v, 32, hex, sizeof(hex));
	b->len += (size_t)sprintf(b->buf + b->len, ",\"%s\":\"%s\"", key, hex);
}

static size_t
field_len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

int
audit_record_format(struct audit_buf *out, const struct audit_record *r,
		    unsigned char hash_out[32])
{
	const char *const fields[] = { r->token, r->client, r->role, r->fn, r->key,
	    r->object, r->mech, r->result, r->rule, r->detail, r->records, r->time,
	    r->host, r->op };
	size_t need = 256 + 2 * 80, i, start = out->len;
	unsigned int mdlen = 0;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		need += 6 * field_len(fields[i]) + 16;
	if (need > AUDIT_LINE_MAX || reserve(out, need) != 0)
		return -1;
	out->len += (size_t)sprintf(out->buf + out->len, "{\"seq\":%llu",
	    (unsigned long long)r->seq);
	put_str(out, "time", r->time);
	put_str(out, "host", r->host);
	out->len += (size_t)sprintf(out->buf + out->len, ",\"pid\":%ld", r->pid);
	put_str(out, "op", r->op);
	put_str(out, "token", r->token);
	put_str(out, "client", r->client);
	put_str(out, "role", r->role);
	put_str(out, "fn", r->fn);
	put_str(out, "key", r->key);
	put_str(out, "object", r->object);
	put_str(out, "mech", r->mech);
	put_str(out, "result", r->result);
	put_str(out, "rule", r->rule);
	put_str(out, "detail", r->detail);
	if (r->records != NULL)
		out->len += (size_t)sprintf(out->buf + out->len, ",\"records\":%s", r->records);
	if (r->has_mac)
		put_hex(out, "mac", r->mac);
	put_hex(out, "prev", r->prev);
	if (EVP_Digest(out->buf + start, out->len - start, hash_out, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != 32) {
		out->len = start;
		return -1;
	}
	put_hex(out, "hash", hash_out);
	put(out, "}\n", 2);
	return 0;
}

void
audit_checkpoint_message(const unsigned char head[32], uint64_t seq,
			 unsigned char msg[AUDIT_CHECKPOINT_MSG_LEN])
{
	size_t d = sizeof(AUDIT_CHECKPOINT_DOMAIN);	/* with its NUL */
	int i;

	memcpy(msg, AUDIT_CHECKPOINT_DOMAIN, d);
	memcpy(msg + d, head, 32);
	for (i = 0; i < 8; i++)
		msg[d + 32 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

/* ---- parsing ---------------------------------------------------------------- */

struct cursor {
	const char	*p, *end;
	const char	*why;
};

static int
fail(struct cursor *c, const char *why)
{
	c->why = why;
	return -1;
}

static int
expect(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return fail(c, "malformed JSON");
	c->p++;
	return 0;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A JSON string into dst[len] (NUL-terminated); longer than len-1 is an error. */
static int
parse_string(struct cursor *c, char *dst, size_t len)
{
	size_t n = 0;
	int h[4], i;
	char ch;

	if (expect(c, '"') != 0)
		return -1;
	while (c->p < c->end && *c->p != '"') {
		ch = *c->p++;
		if ((unsigned char)ch < 0x20)
			return fail(c, "a control character inside a string");
		if (ch == '\\') {
			if (c->p >= c->end)
				return fail(c, "a string ends in a backslash");
			switch (*c->p++) {
			case '"':
				ch = '"';
				break;
			case '\\':
				ch = '\\';
				break;
			case '/':
				ch = '/';
				break;
			case 'n':
				ch = '\n';
				break;
			case 't':
				ch = '\t';
				break;
			case 'r':
				ch = '\r';
				break;
			case 'b':
				ch = '\b';
				break;
			case 'f':
				ch = '\f';
				break;
			case 'u':
				if (c->end - c->p < 4)
					return fail(c, "a short \\u escape");
				for (i = 0; i < 4; i++) {
					if ((h[i] = hexval(c->p[i])) < 0)
						return fail(c, "a bad \\u escape");
				}
				if (h[0] != 0 || h[1] != 0)
					return fail(c, "a \\u escape above \\u00ff");
				ch = (char)(h[2] << 4 | h[3]);
				if (ch == '\0')
					return fail(c, "a NUL inside a string");
				c->p += 4;
				break;
			default:
				return fail(c, "an unknown escape");
			}
		}
		if (n + 1 >= len)
			return fail(c, "a field longer than keylocker writes");
		dst[n++] = ch;
	}
	if (expect(c, '"') != 0)
		return -1;
	if (n == 0)
		return fail(c, "an empty field (keylocker leaves empty fields out)");
	dst[n] = '\0';
	return 0;
}

static int
parse_uint(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (v > (UINT64_MAX - 9) / 10 || (digits == 1 && v == 0))
			return fail(c, "a number too large or with a leading zero");
		v = v * 10 + (uint64_t)(*c->p++ - '0');
		digits++;
	}
	if (digits == 0)
		return fail(c, "a number expected");
	*out = v;
	return 0;
}

static int
parse_hash(struct cursor *c, unsigned char out[32])
{
	char hex[66];

	if (parse_string(c, hex, sizeof(hex)) != 0)
		return -1;
	if (strlen(hex) != 64 || kl_hex_decode(hex, 64, out, 32) != 32)
		return fail(c, "a hash that is not 64 hex digits");
	return 0;
}

enum field_id {
	F_SEQ, F_TIME, F_HOST, F_PID, F_OP, F_TOKEN, F_CLIENT, F_ROLE, F_FN, F_KEY,
	F_OBJECT, F_MECH, F_RESULT, F_RULE, F_DETAIL, F_RECORDS, F_MAC, F_PREV, F_HASH,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"seq", "time", "host", "pid", "op", "token", "client", "role", "fn", "key",
	"object", "mech", "result", "rule", "detail", "records", "mac", "prev", "hash",
};

int
audit_record_parse_why(const char *line, size_t len, struct audit_parsed *out,
		       const char **why)
{
	struct cursor c = { line, line + len, NULL };
	char key[16];
	uint64_t v;
	int seen[F_COUNT] = { 0 };
	int f, last = -1;

	memset(out, 0, sizeof(*out));
	if (len > AUDIT_LINE_MAX) {
		c.why = "a line longer than keylocker writes";
		goto bad;
	}
	if (expect(&c, '{') != 0)
		goto bad;
	for (;;) {
		if (last >= 0 && expect(&c, ',') != 0)
			goto bad;
		if (parse_string(&c, key, sizeof(key)) != 0 || expect(&c, ':') != 0)
			goto bad;
		for (f = 0; f < F_COUNT; f++) {
			if (strcmp(key, field_names[f]) == 0)
				break;
		}
		if (f == F_COUNT) {
			c.why = "an unknown field";
			goto bad;
		}
		/* keylocker writes fields in one order, each once */
		if (seen[f] || f <= last) {
			c.why = "fields repeated or out of order";
			goto bad;
		}
		seen[f] = 1;
		last = f;
		if (f == F_HASH)
			out->hashed_len = (size_t)(c.p - line) - sizeof(",\"hash\":") + 1;
		switch (f) {
		case F_SEQ:
			if (parse_uint(&c, &out->seq) != 0)
				goto bad;
			break;
		case F_PID:
			if (parse_uint(&c, &v) != 0 || v > 0x7fffffff)
				goto bad;
			out->pid = (long)v;
			break;
		case F_RECORDS:
			if (parse_uint(&c, &out->records) != 0)
				goto bad;
			out->has_records = 1;
			break;
		case F_MAC:
			if (parse_hash(&c, out->mac) != 0)
				goto bad;
			out->has_mac = 1;
			break;
		case F_PREV:
			if (parse_hash(&c, out->prev) != 0)
				goto bad;
			break;
		case F_HASH:
			if (parse_hash(&c, out->hash) != 0)
				goto bad;
			break;
		default: {
			static const size_t off[F_COUNT] = {
				[F_TIME] = offsetof(struct audit_parsed, time),
				[F_HOST] = offsetof(struct audit_parsed, host),
				[F_OP] = offsetof(struct audit_parsed, op),
				[F_TOKEN] = offsetof(struct audit_parsed, token),
				[F_CLIENT] = offsetof(struct audit_parsed, client),
				[F_ROLE] = offsetof(struct audit_parsed, role),
				[F_FN] = offsetof(struct audit_parsed, fn),
				[F_KEY] = offsetof(struct audit_parsed, key),
				[F_OBJECT] = offsetof(struct audit_parsed, object),
				[F_MECH] = offsetof(struct audit_parsed, mech),
				[F_RESULT] = offsetof(struct audit_parsed, result),
				[F_RULE] = offsetof(struct audit_parsed, rule),
				[F_DETAIL] = offsetof(struct audit_parsed, detail),
			};
			static const size_t size[F_COUNT] = {
				[F_TIME] = 40, [F_HOST] = 128, [F_OP] = 32,
				[F_TOKEN] = AUDIT_FIELD_SHORT, [F_CLIENT] = AUDIT_FIELD_SHORT,
				[F_ROLE] = 16, [F_FN] = 40, [F_KEY] = AUDIT_FIELD_LONG,
				[F_OBJECT] = AUDIT_FIELD_LONG, [F_MECH] = 48, [F_RESULT] = 48,
				[F_RULE] = 48, [F_DETAIL] = AUDIT_FIELD_DETAIL,
			};
			if (parse_string(&c, (char *)out + off[f], size[f]) != 0)
				goto bad;
			break;
		}
		}
		if (c.p < c.end && *c.p == '}')
			break;
	}
	if (expect(&c, '}') != 0)
		goto bad;
	if (c.p != c.end) {
		c.why = "bytes after the record";
		goto bad;
	}
	if (!seen[F_SEQ] || !seen[F_TIME] || !seen[F_OP] || !seen[F_PREV] || !seen[F_HASH]) {
		c.why = "a required field (seq, time, op, prev, hash) is missing";
		goto bad;
	}
	return 0;
 bad:
	if (why != NULL)
		*why = c.why != NULL ? c.why : "malformed record";
	return -1;
}

int
audit_record_parse(const char *line, size_t len, struct audit_parsed *out)
{
	return audit_record_parse_why(line, len, out, NULL);
}

int
audit_record_hash_ok(const char *line, const struct audit_parsed *p)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(line, p->hashed_len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return 0;
	return memcmp(md, p->hash, 32) == 0;
}
