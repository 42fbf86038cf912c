/*
 * keylocker audit verify | tail.
 *
 * verify reads the file sinks (the configuration's, or the FILEs given)
 * under a shared lock, then logs in to the module as an auditor (or admin)
 * and checks each checkpoint's MAC with the audit key (C_VerifyInit /
 * C_Verify, CKM_SHA256_HMAC): the key never leaves the token, and the
 * module records this login like any other.  Exit status: 0 everything
 * verified, 1 a problem was found, 2 usage or the check could not be made.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/record.h"
#include "audit/verify.h"
#include "common/p11client.h"
#include "common/p11names.h"
#include "common/secret.h"
#include "common/util.h"
#include "conf/conf.h"
#include "tools/cli.h"

#define TAIL_DEFAULT	20

/* ---- output helpers ---------------------------------------------------------- */

static void
json_counts(FILE *out, const struct audit_vcount *t, size_t n)
{
	size_t i;

	fputc('{', out);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', out);
		cli_json_str(out, t[i].name);
		fprintf(out, ":%llu", (unsigned long long)t[i].n);
	}
	fputc('}', out);
}

static void
json_findings(FILE *out, const struct audit_verify *v, const struct audit_finding *f,
	      size_t n, int bad)
{
	size_t i;
	int first = 1;

	fputc('[', out);
	for (i = 0; i < n; i++) {
		if (f[i].bad != bad)
			continue;
		fprintf(out, "%s{\"kind\":", first ? "" : ",");
		cli_json_str(out, audit_vkind_name(f[i].kind));
		fprintf(out, ",\"file\":");
		cli_json_str(out, audit_verify_file_name(v, f[i].file));
		if (f[i].line > 0)
			fprintf(out, ",\"line\":%zu,\"offset\":%llu", f[i].line,
			    (unsigned long long)f[i].offset);
		if (f[i].has_seq)
			fprintf(out, ",\"seq\":%llu", (unsigned long long)f[i].seq);
		fprintf(out, ",\"message\":");
		cli_json_str(out, f[i].msg);
		fputc('}', out);
		first = 0;
	}
	fputc(']', out);
}

static void
print_json(const struct audit_verify *v, int status, size_t n_files)
{
	const struct audit_vsummary *s = audit_verify_summary(v);
	const struct audit_finding *f;
	size_t n, i;

	f = audit_verify_findings(v, &n);
	printf("{\"verified\":%s,\"status\":%d,\"records\":%llu", status == 0 ? "true" : "false",
	    status, (unsigned long long)s->records);
	if (s->records > 0) {
		printf(",\"first_seq\":%llu,\"last_seq\":%llu,\"first_time\":",
		    (unsigned long long)s->first_seq, (unsigned long long)s->last_seq);
		cli_json_str(stdout, s->first_time);
		printf(",\"last_time\":");
		cli_json_str(stdout, s->last_time);
	}
	printf(",\"files\":[");
	for (i = 0; i < n_files; i++) {
		if (i > 0)
			putchar(',');
		cli_json_str(stdout, audit_verify_file_name(v, i));
	}
	printf("],\"checkpoints\":%llu,\"macs_verified\":%llu", (unsigned long long)s->checkpoints,
	    (unsigned long long)s->macs_verified);
	if (s->authenticated)
		printf(",\"authenticated_through\":%llu", (unsigned long long)s->authenticated_through);
	if (s->anchor_checked)
		printf(",\"anchor_seq\":%llu", (unsigned long long)s->anchor_seq);
	printf(",\"clients\":");
	json_counts(stdout, s->clients, s->n_clients);
	printf(",\"operations\":");
	json_counts(stdout, s->ops, s->n_ops);
	printf(",\"problems\":");
	json_findings(stdout, v, f, n, 1);
	printf(",\"notes\":");
	json_findings(stdout, v, f, n, 0);
	printf("}\n");
}

static void
print_finding(const struct audit_verify *v, const struct audit_finding *f)
{
	/* every message names what is wrong (edited, deleted, ...) and the record */
	printf("  %s: %s\n", audit_verify_file_name(v, f->file), f->msg);
}

static void
print_counts(const char *title, const struct audit_vcount *t, size_t n, uint64_t other)
{
	size_t i;

	printf("  %-12s", title);
	for (i = 0; i < n; i++)
		printf("%s%s %llu", i > 0 ? ", " : "", t[i].name, (unsigned long long)t[i].n);
	if (other > 0)
		printf(", others %llu", (unsigned long long)other);
	printf("%s\n", n == 0 ? "-" : "");
}

static void
print_text(const struct audit_verify *v, int status, size_t n_files, int all)
{
	const struct audit_vsummary *s = audit_verify_summary(v);
	const struct audit_finding *f;
	size_t n, i, bad = 0;

	f = audit_verify_findings(v, &n);
	for (i = 0; i < n; i++)
		bad += f[i].bad;
	if (status == 1) {
		printf("audit trail FAILED verification: the first bad record:\n");
		print_finding(v, &f[0]);
		if (all) {
			for (i = 1; i < bad; i++)
				print_finding(v, &f[i]);
		} else if (bad > 1) {
			printf("  (%zu more problem%s, maybe consequences of this one; --all "
			    "lists %s)\n", bad - 1, bad - 1 == 1 ? "" : "s",
			    bad - 1 == 1 ? "it" : "them");
		}
	} else {
		printf("audit trail verified: %llu records", (unsigned long long)s->records);
		if (s->records > 0)
			printf(" (%llu..%llu), %s .. %s", (unsigned long long)s->first_seq,
			    (unsigned long long)s->last_seq, s->first_time, s->last_time);
		printf("\n  %-12s%zu file%s%s:", "sinks", n_files, n_files == 1 ? "" : "s",
		    n_files > 1 ? " that agree" : "");
		for (i = 0; i < n_files; i++)
			printf(" %s", audit_verify_file_name(v, i));
		printf("\n  %-12s%llu, %llu MAC%s verified in the token", "checkpoints",
		    (unsigned long long)s->checkpoints, (unsigned long long)s->macs_verified,
		    s->macs_verified == 1 ? "" : "s");
		if (s->authenticated)
			printf("; authenticated through record %llu",
			    (unsigned long long)s->authenticated_through);
		if (s->records > 0 && (!s->authenticated || s->authenticated_through < s->last_seq))
			printf("\n  %-12srecords %llu..%llu rest on the hash chain%s only (no "
			    "checkpoint after them yet)", "", s->authenticated ?
			    (unsigned long long)s->authenticated_through + 1 :
			    (unsigned long long)s->first_seq, (unsigned long long)s->last_seq,
			    s->anchor_checked ? " and audit.head" : "");
		if (s->anchor_checked)
			printf("\n  %-12saudit.head record %llu matches", "anchor",
			    (unsigned long long)s->anchor_seq);
		else
			printf("\n  %-12snone checked: truncation of every sink would go unseen",
			    "anchor");
		printf("\n");
		print_counts("clients", s->clients, s->n_clients, s->other_clients);
		print_counts("operations", s->ops, s->n_ops, 0);
	}
	for (i = bad; i < n; i++)
		printf("note: %s: %s\n", audit_verify_file_name(v, f[i].file), f[i].msg);
}

/* ---- MACs through the token ------------------------------------------------------- */

struct macctx {
	struct kl_p11c		*c;
	CK_OBJECT_HANDLE	 key;
};

static int
mac_check(void *arg, const unsigned char *msg, size_t len, const unsigned char mac[32])
{
	struct macctx *m = arg;
	CK_FUNCTION_LIST_PTR fl = kl_p11c_fl(m->c);
	CK_SESSION_HANDLE s = kl_p11c_session(m->c);
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv;

	if ((rv = fl->C_VerifyInit(s, &mech, m->key)) != CKR_OK) {
		cli_fail("cannot verify with the audit key: C_VerifyInit: %s", kl_ckr(rv));
		return -1;
	}
	rv = fl->C_Verify(s, (CK_BYTE_PTR)msg, len, (CK_BYTE_PTR)mac, 32);
	if (rv == CKR_OK)
		return 1;
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE)
		return 0;
	cli_fail("cannot verify with the audit key: C_Verify: %s", kl_ckr(rv));
	return -1;
}

static int
open_token(const struct kl_conf *conf, const char *pin_file, struct macctx *m)
{
	struct kl_secret pin = { NULL, 0 };
	const char *label = conf->policy.audit_key;
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;
	int r;

	if (cli_get_pin(NULL, pin_file, "KEYLOCKER_PIN", "Auditor PIN (to check checkpoints "
	    "in the token): ", 0, &pin) != 0)
		return -1;
	r = cli_open_module(conf->tokens[0].label, &pin, &m->c);
	kl_secret_clear(&pin);
	if (r != 0)
		return -1;
	if ((rv = kl_p11c_find(m->c, CKO_SECRET_KEY, label, h, 2, &n)) != CKR_OK || n != 1) {
		cli_fail("audit key \"%s\" on token %s: %s", label, conf->tokens[0].label,
		    rv != CKR_OK ? kl_ckr(rv) : n == 0 ? "not found (log in as an auditor or "
		    "admin)" : "more than one key has this label");
		return -1;
	}
	m->key = h[0];
	return 0;
}

/* ---- verify -------------------------------------------------------------------------- */

static int
verify_usage(FILE *f, int status)
{
	fprintf(f, "usage: keylocker audit verify [--pin-file F] [--head FILE | --no-head] "
	    "[--json] [--all] [FILE...]\n"
	    "  Walks the hash chain of every file sink (FILEs, else the configuration's),\n"
	    "  checks every checkpoint MAC in the token (an auditor's or admin's PIN:\n"
	    "  --pin-file, $KEYLOCKER_PIN, or asked on the terminal), compares the sinks\n"
	    "  with each other and with the audit.head anchor.  The first FILE is the\n"
	    "  reference.  Exit: 0 verified, 1 a problem found, 2 could not check.\n");
	return status;
}

static int
cmd_audit_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-file", required_argument, NULL, 'p' },
		{ "head", required_argument, NULL, 'H' },
		{ "no-head", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_verify *v = NULL;
	struct kl_conf *conf = NULL;
	struct macctx m = { NULL, 0 };
	const char *pin_file = NULL, *head = NULL;
	char err[1024], anchor_path[4200];
	unsigned char hash[32];
	uint64_t seq;
	size_t i, n_files = 0;
	int ch, no_head = 0, json = 0, all = 0, status = EXIT_USAGE, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': pin_file = optarg; break;
		case 'H': head = optarg; break;
		case 'N': no_head = 1; break;
		case 'j': json = 1; break;
		case 'a': all = 1; break;
		case 'h': return verify_usage(stdout, EXIT_OK);
		default: return verify_usage(stderr, EXIT_USAGE);
		}
	}
	if (head != NULL && no_head)
		return verify_usage(stderr, EXIT_USAGE);
	if (conf_load_file(NULL, &conf, err, sizeof(err)) != 0) {
		cli_fail("%s", err);
		return EXIT_USAGE;
	}
	if ((v = audit_verify_new()) == NULL)
		goto out;
	/* a writer keeps at most checkpoint_every records unsigned per process */
	audit_verify_set_max_uncovered(v, 16ULL * conf->checkpoint_every);
	/* the anchor first: it never names a record the files do not hold yet */
	if (!no_head) {
		if (head == NULL) {
			snprintf(anchor_path, sizeof(anchor_path), "%s/audit.head", conf->state_dir);
			head = anchor_path;
		}
		if ((r = audit_verify_read_anchor(head, &seq, hash, err, sizeof(err))) < 0) {
			cli_fail("%s", err);
			goto out;
		}
		if (r == 0)
			audit_verify_set_anchor(v, seq, hash);
		else if (!json)
			fprintf(stderr, "keylocker: no anchor at %s: truncation of every sink "
			    "cannot be detected\n", head);
	}
	if (optind < argc) {
		for (i = (size_t)optind; i < (size_t)argc; i++, n_files++) {
			if (audit_verify_add_file(v, argv[i], err, sizeof(err)) != 0) {
				cli_fail("%s", err);
				goto out;
			}
		}
	} else {
		for (i = 0; i < conf->n_sinks; i++) {
			if (conf->sinks[i].type != CONF_SINK_FILE)
				continue;
			if (audit_verify_add_file(v, conf->sinks[i].path, err, sizeof(err)) != 0) {
				cli_fail("%s", err);
				goto out;
			}
			n_files++;
		}
		if (n_files == 0) {
			cli_fail("%s has no file sink to verify (syslog copies are checked on "
			    "the log server: pass the file there)", conf->source);
			goto out;
		}
	}
	/* the module locks the first sink to write: let go of it first */
	audit_verify_unlock(v);
	if (audit_verify_needs_mac(v) && open_token(conf, pin_file, &m) != 0)
		goto out;
	status = audit_verify_run(v, m.c != NULL ? mac_check : NULL, &m);
	if (status == 2) {
		cli_fail("the checkpoints could not be checked in the token");
		goto out;
	}
	if (json)
		print_json(v, status, n_files);
	else
		print_text(v, status, n_files, all);
 out:
	kl_p11c_close(m.c);
	audit_verify_free(v);
	conf_free(conf);
	return status;
}

/* ---- tail ---------------------------------------------------------------------------- */

static void
print_record(const char *line, size_t len, int json)
{
	struct audit_parsed r;
	const char *why = NULL;

	if (json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		return;
	}
	if (audit_record_parse_why(line, len, &r, &why) != 0) {
		printf("?? not a record (%s): %.*s\n", why, (int)(len > 120 ? 120 : len), line);
		return;
	}
	printf("%s #%llu %s", r.time, (unsigned long long)r.seq, r.op);
#define FIELD(name) do { if (r.name[0] != '\0') printf(" " #name "=%s", r.name); } while (0)
	FIELD(token);
	FIELD(client);
	FIELD(role);
	FIELD(fn);
	FIELD(key);
	FIELD(object);
	FIELD(mech);
	FIELD(result);
	FIELD(rule);
	FIELD(detail);
#undef FIELD
	if (r.has_records)
		printf(" records=%llu", (unsigned long long)r.records);
	printf(" host=%s pid=%ld\n", r.host, r.pid);
}

/* Print the whole lines of f from off on; returns the offset after the last one. */
static long
print_from(FILE *f, long off, int json)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fseek(f, off, SEEK_SET) != 0)
		return off;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;	/* a record still being written */
		print_record(line, (size_t)n - 1, json);
		off += n;
	}
	clearerr(f);
	free(line);
	fflush(stdout);
	return off;
}

static int
cmd_audit_tail(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_conf *conf = NULL;
	const char *path = NULL;
	char err[1024], *buf = NULL, *end;
	unsigned long want = TAIL_DEFAULT, seen = 0;
	long off = 0, size;
	FILE *f = NULL;
	size_t i;
	int ch, follow = 0, json = 0, status = EXIT_USAGE;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "n:f", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			want = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-')
				return cli_fail("-n wants a number of records, not \"%s\"", optarg),
				    EXIT_USAGE;
			break;
		case 'f': follow = 1; break;
		case 'j': json = 1; break;
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: keylocker audit tail [-n N] "
			    "[-f] [--json] [FILE]\n  The last N records (default %d) of FILE, else "
			    "of the first file sink; -f follows new ones;\n  --json prints the "
			    "records as they are, one JSON object per line (for a SIEM).\n",
			    TAIL_DEFAULT);
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		return cli_fail("audit tail reads one file"), EXIT_USAGE;
	if (optind < argc) {
		path = argv[optind];
	} else {
		if (conf_load_file(NULL, &conf, err, sizeof(err)) != 0) {
			cli_fail("%s", err);
			return EXIT_USAGE;
		}
		for (i = 0; i < conf->n_sinks && path == NULL; i++) {
			if (conf->sinks[i].type == CONF_SINK_FILE)
				path = conf->sinks[i].path;
		}
		if (path == NULL) {
			cli_fail("%s has no file sink", conf->source);
			goto out;
		}
	}
	if ((f = fopen(path, "re")) == NULL) {
		cli_fail("%s: %s", path, strerror(errno));
		goto out;
	}
	/* find where the last `want` whole lines start */
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
		cli_fail("%s: cannot seek", path);
		goto out;
	}
	if (size > 0 && want > 0) {
		if ((buf = malloc((size_t)size)) == NULL || fseek(f, 0, SEEK_SET) != 0 ||
		    fread(buf, 1, (size_t)size, f) != (size_t)size) {
			cli_fail("%s: cannot read it", path);
			goto out;
		}
		off = size;
		while (off > 0 && buf[off - 1] != '\n')
			off--;		/* a partial last line is not shown */
		while (off > 0 && seen < want) {
			off--;
			while (off > 0 && buf[off - 1] != '\n')
				off--;
			seen++;
		}
	} else {
		off = size;
	}
	off = print_from(f, off, json);
	while (follow) {
		usleep(500 * 1000);
		off = print_from(f, off, json);
	}
	status = EXIT_OK;
 out:
	free(buf);
	if (f != NULL)
		fclose(f);
	conf_free(conf);
	return status;
}

int
cmd_audit(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return cmd_audit_verify(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "tail") == 0)
		return cmd_audit_tail(argc - 1, argv + 1);
	fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
	    "usage: keylocker audit verify [OPTIONS] [FILE...]   check the trail\n"
	    "       keylocker audit tail [-n N] [-f] [--json] [FILE]   show the last records\n");
	return argc >= 2 && strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
}
