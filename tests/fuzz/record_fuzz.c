/* libFuzzer: the audit record parser (it reads files an attacker may edit). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_parsed p;
	struct audit_record r;
	struct audit_buf b = { NULL, 0, 0 };
	unsigned char hash[32];
	const char *why = NULL;

	if (audit_record_parse_why((const char *)data, size, &p, &why) != 0) {
		if (why == NULL)
			__builtin_trap();	/* every refusal says why */
		return 0;
	}
	if (p.hashed_len > size)
		__builtin_trap();
	(void)audit_record_hash_ok((const char *)data, &p);
	/* what parses can be written again, and that parses to the same fields */
	memset(&r, 0, sizeof(r));
	r.seq = p.seq;
	r.time = p.time;
	r.host = p.host;
	r.pid = p.pid;
	r.op = p.op;
	r.key = p.key;
	r.object = p.object;
	r.detail = p.detail;
	memcpy(r.prev, p.prev, 32);
	if (audit_record_format(&b, &r, hash) == 0) {
		struct audit_parsed q;

		if (audit_record_parse(b.buf, b.len - 1, &q) != 0 || q.seq != p.seq ||
		    strcmp(q.object, p.object) != 0 || strcmp(q.detail, p.detail) != 0 ||
		    !audit_record_hash_ok(b.buf, &q))
			__builtin_trap();
	}
	free(b.buf);
	return 0;
}
