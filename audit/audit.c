/*
 * The audit writer.
 *
 * Producers (any thread in a PKCS#11 call) copy an event into a bounded
 * queue and return.  One writer thread per process drains the queue in
 * batches: under an exclusive flock on the first file sink (so several
 * processes extend one chain) it learns the chain head from the file if
 * another process wrote since, formats each record, chains it
 *   hash = SHA-256(the record's bytes up to ,"hash":)   (they include "prev")
 * adds a checkpoint (HMAC of the head, computed in the token) every
 * checkpoint_every records or checkpoint_seconds, and writes the batch to
 * every sink with one write() per file.  fdatasync() runs every
 * sync_interval_ms and after each checkpoint, never per record.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "common/log.h"
#include "common/p11names.h"
#include "common/util.h"
#include "conf/conf.h"

#define QUEUE_CAP	4096		/* events waiting for the writer */
#define BATCH_MAX	512		/* events per writer round */
#define TAIL_READ	(64 * 1024)	/* enough for the last whole record */

struct qevent {
	enum audit_op	 op;
	char		 time[32];
	char		 token[AUDIT_FIELD_SHORT];
	char		 client[AUDIT_FIELD_SHORT];
	char		 role[16];
	char		 fn[40];
	char		 key[AUDIT_FIELD_LONG];
	char		 object[AUDIT_FIELD_LONG];
	char		 mech[48];
	char		 result[48];
	char		 rule[48];
	char		 detail[AUDIT_FIELD_DETAIL];
};

struct sink {
	const struct conf_sink	*conf;
	int			 fd;		/* file: the open file; syslog: the socket */
	int			 failed;
	uint64_t		 failed_ms;	/* when it failed, to retry later */
};

struct audit {
	const struct kl_conf	*conf;
	audit_sign_fn		 sign;
	void			*sign_arg;
	char			 host[128];
	long			 pid;

	pthread_mutex_t		 lock;		/* the queue, counters, stop */
	pthread_cond_t		 wake;
	struct qevent		*q;
	size_t			 qhead, qlen;
	size_t			 dropped, dropped_reported;
	uint64_t		 enqueued;	/* events queued, ever */
	uint64_t		 consumed;	/* events the writer took */
	uint64_t		 durable;	/* events taken and fdatasync()ed */
	int			 flush_req;
	int			 stop;
	int			 running;
	pthread_t		 thread;

	/* writer thread only (and audit_open before it starts) */
	struct sink		*sinks;
	size_t			 n_sinks;
	uint64_t		 seq;		/* the next record's */
	unsigned char		 head[32];	/* hash of the last record */
	off_t			 known_size;	/* size of the first file after our last write */
	uint64_t		 since_checkpoint;
	uint64_t		 checkpoint_ms;
	uint64_t		 unsynced;	/* records written since the last fdatasync */
	uint64_t		 sync_ms;
	struct audit_buf	 out;

	/* read by audit_get_status/audit_ok under lock */
	uint64_t		 durable_seq;
	size_t			 sinks_failed;
};

const char *
audit_op_name(enum audit_op op)
{
	static const char *const names[AUDIT_OP_COUNT] = {
		[AUDIT_START] = "start", [AUDIT_STOP] = "stop",
		[AUDIT_CONFIG_LOAD] = "config_load", [AUDIT_LOGIN] = "login",
		[AUDIT_LOGIN_FAILED] = "login_failed", [AUDIT_LOCKOUT] = "lockout",
		[AUDIT_LOGOUT] = "logout", [AUDIT_KEY_GENERATED] = "key_generated",
		[AUDIT_KEY_RETIRED] = "key_retired", [AUDIT_KEY_UNRETIRED] = "key_unretired",
		[AUDIT_KEY_DESTROYED] = "key_destroyed", [AUDIT_WRAP] = "wrap",
		[AUDIT_UNWRAP] = "unwrap", [AUDIT_DENY] = "deny",
		[AUDIT_BACKEND_LOST] = "backend_lost",
		[AUDIT_BACKEND_RECOVERED] = "backend_recovered",
		[AUDIT_SINK_FAILED] = "sink_failed", [AUDIT_SINK_RECOVERED] = "sink_recovered",
		[AUDIT_RESUME] = "resume", [AUDIT_CHECKPOINT] = "checkpoint",
	};

	return (unsigned)op < AUDIT_OP_COUNT && names[op] != NULL ? names[op] : "unknown";
}

/* ---- producers ------------------------------------------------------------ */

static void
copy_field(char *dst, size_t len, const char *src)
{
	if (src != NULL)
		kl_strlcpy(dst, src, len);
	else
		dst[0] = '\0';
}

void
audit_emit(struct audit *a, const struct audit_event *ev)
{
	struct qevent *e;
	char buf[24];

	if (a == NULL || ev == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->qlen == QUEUE_CAP || !a->running) {
		a->dropped++;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	e = &a->q[(a->qhead + a->qlen) % QUEUE_CAP];
	e->op = ev->op;
	kl_utc_timestamp(e->time);
	copy_field(e->token, sizeof(e->token), ev->token);
	copy_field(e->client, sizeof(e->client), ev->client);
	copy_field(e->role, sizeof(e->role), ev->role);
	copy_field(e->fn, sizeof(e->fn), ev->fn);
	copy_field(e->key, sizeof(e->key), ev->key);
	copy_field(e->object, sizeof(e->object), ev->object);
	copy_field(e->mech, sizeof(e->mech), ev->has_mech ?
	    kl_p11name(kl_p11names_ckm, ev->mech, buf) : NULL);
	copy_field(e->result, sizeof(e->result), kl_p11name(kl_p11names_ckr, ev->rv, buf));
	copy_field(e->rule, sizeof(e->rule), ev->rule);
	copy_field(e->detail, sizeof(e->detail), ev->detail);
	a->qlen++;
	a->enqueued++;
	/* the writer wakes on its own timer; a full half-queue hurries it */
	if (a->qlen == QUEUE_CAP / 2 || ev->op == AUDIT_STOP)
		pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}

int
audit_ok(struct audit *a)
{
	int ok;

	if (a == NULL)
		return 0;
	if (!a->conf->audit_fail_closed)
		return 1;
	pthread_mutex_lock(&a->lock);
	ok = a->running && a->sinks_failed == 0 && a->qlen < QUEUE_CAP &&
	    a->dropped == a->dropped_reported;
	pthread_mutex_unlock(&a->lock);
	return ok;
}

void
audit_get_status(struct audit *a, struct audit_status *st)
{
	memset(st, 0, sizeof(*st));
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	st->durable_seq = a->durable_seq;
	st->sinks = a->n_sinks;
	st->sinks_failed = a->sinks_failed;
	st->dropped = a->dropped;
	pthread_mutex_unlock(&a->lock);
	st->next_seq = a->seq;
}

/* ---- sinks -------------------------------------------------------------------- */

static int
file_open(struct audit *a, struct sink *s)
{
	char dir[PATH_MAX], *slash;
	int fd, flags;

	kl_strlcpy(dir, s->conf->path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0700);
	}
	fd = open(s->conf->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		kl_error("audit file %s: %s", s->conf->path, strerror(errno));
		return -1;
	}
	if (s->conf->append_only) {
		/* chattr +a: even root must clear it before rewriting the file */
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
			if (!(flags & FS_APPEND_FL)) {
				flags |= FS_APPEND_FL;
				if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)
					kl_warn("audit file %s: cannot make it append-only "
					    "(chattr +a): %s; it needs CAP_LINUX_IMMUTABLE "
					    "(root), or set append_only: false", s->conf->path,
					    strerror(errno));
			}
		} else {
			kl_warn("audit file %s: this filesystem has no append-only flag "
			    "(%s)", s->conf->path, strerror(errno));
		}
	}
	s->fd = fd;
	return 0;
}

static int
syslog_open(struct sink *s)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	kl_strlcpy(sa.sun_path, s->conf->path, sizeof(sa.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	s->fd = fd;
	return 0;
}

static int
sink_open(struct audit *a, struct sink *s)
{
	s->fd = -1;
	return s->conf->type == CONF_SINK_FILE ? file_open(a, s) : syslog_open(s);
}

static void
sink_fail(struct audit *a, struct sink *s, int err)
{
	if (s->failed)
		return;
	s->failed = 1;
	s->failed_ms = kl_monotonic_ms();
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	kl_error("audit sink %s failed: %s; the other sinks continue%s",
	    s->conf->path, strerror(err),
	    a->conf->audit_fail_closed ? " and key operations are refused (fail-closed)" : "");
}

/* write() all of buf, or fail. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* RFC 3164 framing over /dev/log, one datagram per record (no openlog(): not ours). */
static int
syslog_send(struct audit *a, struct sink *s, const char *line, size_t len)
{
	char msg[AUDIT_LINE_MAX + 256], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(msg, sizeof(msg), "<%d>%s %s[%ld]: %.*s",
	    s->conf->facility | LOG_INFO, stamp, s->conf->ident, a->pid, (int)len, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	return send(s->fd, msg, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* ---- the chain head ----------------------------------------------------------- */

/*
 * Read the last whole record of fd: its seq and hash.  *torn is the number
 * of bytes after the last newline (a record cut off by a crash).  An empty
 * file leaves seq 0 and an all-zero head.  Returns 0, or -1 when the tail
 * is not a record of ours.
 */
static int
read_tail(int fd, uint64_t *next_seq, unsigned char head[32], off_t *size, size_t *torn)
{
	struct audit_parsed rec;
	struct stat st;
	char *buf = NULL, *end, *start;
	off_t from;
	ssize_t n;
	int r = -1;

	*next_seq = 0;
	memset(head, 0, 32);
	*torn = 0;
	if (fstat(fd, &st) != 0)
		return -1;
	*size = st.st_size;
	if (st.st_size == 0)
		return 0;
	from = st.st_size > TAIL_READ ? st.st_size - TAIL_READ : 0;
	if ((buf = malloc(TAIL_READ + 1)) == NULL)
		return -1;
	if ((n = pread(fd, buf, (size_t)(st.st_size - from), from)) != st.st_size - from)
		goto out;
	buf[n] = '\0';
	if ((end = kl_memrchr(buf, '\n', (size_t)n)) == NULL) {
		/* one partial record and nothing else: an empty chain, torn */
		if (from == 0) {
			*torn = (size_t)n;
			r = 0;
		}
		goto out;
	}
	*torn = (size_t)(buf + n - (end + 1));
	/* the last line that is a record; lines in between are closed torn writes */
	for (;;) {
		*end = '\0';
		start = kl_memrchr(buf, '\n', (size_t)(end - buf));
		start = start != NULL ? start + 1 : buf;
		if (audit_record_parse(start, (size_t)(end - start), &rec) == 0)
			break;
		if (start == buf) {
			r = from == 0 ? 0 : -1;	/* no record at all, or none near the end */
			goto out;
		}
		end = start - 1;
	}
	*next_seq = rec.seq + 1;
	memcpy(head, rec.hash, 32);
	r = 0;
 out:
	free(buf);
	return r;
}

/* The first healthy file sink: the reference for the chain head. */
static struct sink *
reference(struct audit *a)
{
	size_t i;

	for (i = 0; i < a->n_sinks; i++) {
		if (a->sinks[i].conf->type == CONF_SINK_FILE && !a->sinks[i].failed)
			return &a->sinks[i];
	}
	return NULL;
}

/* Another process wrote since our last batch: take the head from the file. */
static void
sync_head(struct audit *a, struct sink *ref)
{
	struct stat st;
	size_t torn;
	off_t size;

	if (fstat(ref->fd, &st) != 0 || st.st_size == a->known_size)
		return;
	if (read_tail(ref->fd, &a->seq, a->head, &size, &torn) != 0)
		kl_error("audit file %s does not end with a record of ours: the chain "
		    "restarts; run keylocker audit verify", ref->conf->path);
	a->known_size = size;
}

/*
 * Copy to sink s the records of ref it lacks (after a crash between two
 * sinks' writes, or a sink that failed for a while), so all sinks agree.
 * A torn tail in s is closed with a newline first.
 */
#define CATCH_UP_MAX	(64 * 1024 * 1024)

static int
catch_up(struct audit *a, struct sink *ref, struct sink *s, size_t *torn_out)
{
	unsigned char head[32];
	uint64_t s_next, ref_next;
	off_t s_size, ref_size, from;
	size_t torn, ref_torn, len;
	char *buf = NULL, *p, *e, *copy = NULL;
	struct audit_parsed rec;
	int r = -1;

	*torn_out = 0;
	if (read_tail(s->fd, &s_next, head, &s_size, &torn) != 0)
		return -1;
	if (torn > 0 && write_all(s->fd, "\n", 1) != 0)
		return -1;
	*torn_out = torn;
	if (read_tail(ref->fd, &ref_next, head, &ref_size, &ref_torn) != 0 ||
	    s_next >= ref_next)
		return 0;
	from = ref_size > CATCH_UP_MAX ? ref_size - CATCH_UP_MAX : 0;
	len = (size_t)(ref_size - from);
	if ((buf = malloc(len + 1)) == NULL)
		return -1;
	if (pread(ref->fd, buf, len, from) != (ssize_t)len)
		goto out;
	buf[len] = '\0';
	/* the first whole record with seq >= s_next; lines before a newline only */
	for (p = from == 0 ? buf : memchr(buf, '\n', len); p != NULL && p < buf + len; p = e + 1) {
		if (p != buf && p[-1] != '\n')
			p++;	/* skip the partial first line of a window */
		if ((e = memchr(p, '\n', (size_t)(buf + len - p))) == NULL)
			break;
		if (audit_record_parse(p, (size_t)(e - p), &rec) == 0 && rec.seq >= s_next) {
			copy = p;
			break;
		}
	}
	if (copy == NULL) {
		kl_error("audit sink %s is behind %s by more than can be copied; copy the "
		    "missing records by hand", s->conf->path, ref->conf->path);
		goto out;
	}
	e = kl_memrchr(buf, '\n', len);
	if (write_all(s->fd, copy, (size_t)(e + 1 - copy)) != 0)
		goto out;
	kl_warn("audit sink %s was behind %s: copied records %llu..%llu", s->conf->path,
	    ref->conf->path, (unsigned long long)s_next, (unsigned long long)ref_next - 1);
	r = 0;
 out:
	free(buf);
	return r;
}

/* ---- records ---------------------------------------------------------------------- */

static void
append_record(struct audit *a, const struct qevent *e)
{
	struct audit_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.seq = a->seq;
	rec.time = e->time;
	rec.host = a->host;
	rec.pid = a->pid;
	rec.op = audit_op_name(e->op);
	rec.token = e->token;
	rec.client = e->client;
	rec.role = e->role;
	rec.fn = e->fn;
	rec.key = e->key;
	rec.object = e->object;
	rec.mech = e->mech;
	rec.result = e->result;
	rec.rule = e->rule;
	rec.detail = e->detail;
	memcpy(rec.prev, a->head, 32);
	if (audit_record_format(&a->out, &rec, a->head) == 0) {
		a->seq++;
		a->since_checkpoint++;
	}
}

static void
append_checkpoint(struct audit *a)
{
	struct audit_record rec;
	unsigned char msg[AUDIT_CHECKPOINT_MSG_LEN];
	char stamp[32], count[24];

	kl_utc_timestamp(stamp);
	memset(&rec, 0, sizeof(rec));
	rec.seq = a->seq;
	rec.time = stamp;
	rec.host = a->host;
	rec.pid = a->pid;
	rec.op = audit_op_name(AUDIT_CHECKPOINT);
	rec.key = a->conf->policy.audit_key;
	snprintf(count, sizeof(count), "%llu", (unsigned long long)a->since_checkpoint);
	rec.records = count;
	memcpy(rec.prev, a->head, 32);
	audit_checkpoint_message(a->head, a->seq, msg);
	if (a->sign != NULL && a->sign(a->sign_arg, msg, sizeof(msg), rec.mac) == 0)
		rec.has_mac = 1;
	else
		rec.detail = "no MAC: the audit key was not available";
	if (audit_record_format(&a->out, &rec, a->head) == 0)
		a->seq++;
	a->since_checkpoint = 0;
	a->checkpoint_ms = kl_monotonic_ms();
}

/* Record the durable head outside the sinks: an anchor against truncation. */
static void
write_head_file(struct audit *a)
{
	char path[PATH_MAX], tmp[PATH_MAX], line[128], hex[65];
	int fd, n;

	(void)mkdir(a->conf->state_dir, 0700);
	snprintf(path, sizeof(path), "%s/audit.head", a->conf->state_dir);
	snprintf(tmp, sizeof(tmp), "%s/audit.head.%ld", a->conf->state_dir, a->pid);
	kl_hex_encode(a->head, 32, hex, sizeof(hex));
	n = snprintf(line, sizeof(line), "seq %llu hash %s\n",
	    (unsigned long long)a->seq - 1, hex);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return;
	if (write_all(fd, line, (size_t)n) == 0 && fdatasync(fd) == 0)
		(void)rename(tmp, path);
	else
		(void)unlink(tmp);
	close(fd);
}

static void
sync_sinks(struct audit *a)
{
	size_t i;

	for (i = 0; i < a->n_sinks; i++) {
		struct sink *s = &a->sinks[i];

		if (s->conf->type == CONF_SINK_FILE && !s->failed && fdatasync(s->fd) != 0)
			sink_fail(a, s, errno);
	}
	a->unsynced = 0;
	a->sync_ms = kl_monotonic_ms();
	if (a->seq > 0)
		write_head_file(a);
	pthread_mutex_lock(&a->lock);
	a->durable_seq = a->seq;
	a->durable = a->consumed;
	pthread_mutex_unlock(&a->lock);
}

/* Try failed sinks again, at most every few seconds; catch them up. */
static void
retry_sinks(struct audit *a, struct sink *ref)
{
	uint64_t now = kl_monotonic_ms();
	size_t i, torn;

	for (i = 0; i < a->n_sinks; i++) {
		struct sink *s = &a->sinks[i];

		if (!s->failed || now - s->failed_ms < 5000)
			continue;
		s->failed_ms = now;
		if (sink_open(a, s) != 0)
			continue;
		if (s->conf->type == CONF_SINK_FILE && ref != NULL && ref != s &&
		    catch_up(a, ref, s, &torn) != 0) {
			close(s->fd);
			s->fd = -1;
			continue;
		}
		s->failed = 0;
		kl_info("audit sink %s works again", s->conf->path);
	}
}

static size_t
count_failed(struct audit *a)
{
	size_t i, n = 0;

	for (i = 0; i < a->n_sinks; i++)
		n += a->sinks[i].failed;
	return n;
}

/* Format and write one batch (events may be empty: a checkpoint only). */
static void
write_batch(struct audit *a, const struct qevent *ev, size_t n, int force_checkpoint)
{
	struct sink *ref = reference(a);
	struct qevent note;
	size_t i, before, failed;
	char *line, *nl;

	if (ref != NULL && flock(ref->fd, LOCK_EX) != 0)
		ref = NULL;
	if (ref != NULL)
		sync_head(a, ref);
	retry_sinks(a, ref);
	a->out.len = 0;
	before = count_failed(a);
	for (i = 0; i < n; i++) {
		append_record(a, &ev[i]);
		if (a->since_checkpoint >= a->conf->checkpoint_every)
			append_checkpoint(a);
	}
	if (force_checkpoint && a->since_checkpoint > 0)
		append_checkpoint(a);
	for (i = 0; i < a->n_sinks && a->out.len > 0; i++) {
		struct sink *s = &a->sinks[i];

		if (s->failed)
			continue;
		if (s->conf->type == CONF_SINK_FILE) {
			if (write_all(s->fd, a->out.buf, a->out.len) != 0)
				sink_fail(a, s, errno);
			continue;
		}
		for (line = a->out.buf; line < a->out.buf + a->out.len; line = nl + 1) {
			nl = memchr(line, '\n', (size_t)(a->out.buf + a->out.len - line));
			if (syslog_send(a, s, line, (size_t)(nl - line)) != 0) {
				sink_fail(a, s, errno);
				break;
			}
		}
	}
	if (ref != NULL && !ref->failed) {
		struct stat st;

		if (fstat(ref->fd, &st) == 0)
			a->known_size = st.st_size;
	}
	if (ref != NULL)
		(void)flock(ref->fd, LOCK_UN);
	a->unsynced += n;
	failed = count_failed(a);
	pthread_mutex_lock(&a->lock);
	a->sinks_failed = failed;
	pthread_mutex_unlock(&a->lock);
	if (failed != before) {
		/* say so in the sinks that still work */
		memset(&note, 0, sizeof(note));
		note.op = failed > before ? AUDIT_SINK_FAILED : AUDIT_SINK_RECOVERED;
		kl_utc_timestamp(note.time);
		snprintf(note.detail, sizeof(note.detail), "%zu of %zu audit sinks failing",
		    failed, a->n_sinks);
		write_batch(a, &note, 1, 0);
	}
}

static void *
writer(void *arg)
{
	struct audit *a = arg;
	struct qevent *batch;
	struct timespec until;
	uint64_t now, dropped;
	size_t n, i;
	int stop, flush;

	if ((batch = calloc(BATCH_MAX, sizeof(*batch))) == NULL)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&a->lock);
		if (a->qlen == 0 && !a->stop && !a->flush_req) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)(a->conf->sync_interval_ms % 1000) * 1000000L;
			until.tv_sec += a->conf->sync_interval_ms / 1000 + until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			(void)pthread_cond_timedwait(&a->wake, &a->lock, &until);
		}
		n = a->qlen < BATCH_MAX ? a->qlen : BATCH_MAX;
		for (i = 0; i < n; i++)
			batch[i] = a->q[(a->qhead + i) % QUEUE_CAP];
		a->qhead = (a->qhead + n) % QUEUE_CAP;
		a->qlen -= n;
		a->consumed += n;
		flush = a->flush_req;
		a->flush_req = 0;
		dropped = a->dropped - a->dropped_reported;
		a->dropped_reported = a->dropped;
		stop = a->stop && a->qlen == 0;
		pthread_mutex_unlock(&a->lock);

		if (dropped > 0 && n < BATCH_MAX) {
			memset(&batch[n], 0, sizeof(batch[n]));
			batch[n].op = AUDIT_SINK_FAILED;
			kl_utc_timestamp(batch[n].time);
			snprintf(batch[n].detail, sizeof(batch[n].detail),
			    "%llu records were lost: the queue was full",
			    (unsigned long long)dropped);
			n++;
		}
		now = kl_monotonic_ms();
		if (n > 0 || stop || (a->since_checkpoint > 0 &&
		    now - a->checkpoint_ms >= a->conf->checkpoint_seconds * 1000ULL)) {
			int cp = stop || now - a->checkpoint_ms >= a->conf->checkpoint_seconds * 1000ULL;
			write_batch(a, batch, n, cp);
			if (cp)
				sync_sinks(a);	/* every checkpoint is durable */
		}
		if (flush || (a->unsynced > 0 &&
		    kl_monotonic_ms() - a->sync_ms >= a->conf->sync_interval_ms))
			sync_sinks(a);
		if (stop)
			break;
	}
	free(batch);
	return NULL;
}

/* ---- open and close ------------------------------------------------------------------ */

/* Close the sinks and free; sync objects too unless a fork child abandons them. */
static void
audit_release(struct audit *a, int destroy_sync)
{
	size_t i;

	for (i = 0; i < a->n_sinks; i++) {
		if (a->sinks[i].fd >= 0)
			close(a->sinks[i].fd);
	}
	free(a->sinks);
	free(a->q);
	free(a->out.buf);
	if (destroy_sync) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
	}
	free(a);
}

int
audit_open(const struct kl_conf *conf, audit_sign_fn sign, void *sign_arg,
	   struct audit **out, char *err, size_t errlen)
{
	struct audit *a = NULL;
	struct audit_event ev;
	struct sink *ref;
	char torn_note[256] = "";
	sigset_t all, old_mask;
	size_t i, torn, ref_torn = 0;
	off_t size;
	int r = -1, rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->q = calloc(QUEUE_CAP, sizeof(*a->q))) == NULL ||
	    (a->sinks = calloc(conf->n_sinks, sizeof(*a->sinks))) == NULL) {
		snprintf(err, errlen, "audit: out of memory");
		if (a != NULL) {
			free(a->q);
			free(a);
		}
		return -1;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	a->conf = conf;
	a->sign = sign;
	a->sign_arg = sign_arg;
	a->pid = (long)getpid();
	if (gethostname(a->host, sizeof(a->host)) != 0)
		kl_strlcpy(a->host, "unknown", sizeof(a->host));
	a->host[sizeof(a->host) - 1] = '\0';
	a->n_sinks = conf->n_sinks;
	for (i = 0; i < a->n_sinks; i++) {
		a->sinks[i].conf = &conf->sinks[i];
		if (sink_open(a, &a->sinks[i]) != 0) {
			if (conf->audit_fail_closed && conf->sinks[i].type == CONF_SINK_FILE) {
				snprintf(err, errlen, "audit file %s cannot be opened: %s "
				    "(audit.on_sink_failure is fail-closed)",
				    conf->sinks[i].path, strerror(errno));
				goto out;
			}
			a->sinks[i].failed = 1;
			a->sinks[i].failed_ms = kl_monotonic_ms();
			kl_warn("audit sink %s is unavailable; continuing without it",
			    conf->sinks[i].path);
		}
	}

	/* continue the chain; close torn tails; bring lagging sinks level */
	if ((ref = reference(a)) != NULL) {
		if (flock(ref->fd, LOCK_EX) != 0) {
			snprintf(err, errlen, "audit file %s: cannot lock it: %s",
			    ref->conf->path, strerror(errno));
			goto out;
		}
		if (read_tail(ref->fd, &a->seq, a->head, &size, &ref_torn) != 0 && size > 0) {
			snprintf(err, errlen, "audit file %s does not end with a keylocker "
			    "record; run `keylocker audit verify %s` and move it aside",
			    ref->conf->path, ref->conf->path);
			(void)flock(ref->fd, LOCK_UN);
			goto out;
		}
		if (ref_torn > 0 && write_all(ref->fd, "\n", 1) != 0) {
			snprintf(err, errlen, "audit file %s: %s", ref->conf->path, strerror(errno));
			(void)flock(ref->fd, LOCK_UN);
			goto out;
		}
		if (ref_torn > 0)
			snprintf(torn_note, sizeof(torn_note), "torn %s %zu", ref->conf->path,
			    ref_torn);
		for (i = 0; i < a->n_sinks; i++) {
			struct sink *s = &a->sinks[i];

			if (s == ref || s->failed || s->conf->type != CONF_SINK_FILE)
				continue;
			if (catch_up(a, ref, s, &torn) != 0)
				sink_fail(a, s, errno != 0 ? errno : EIO);
			else if (torn > 0)
				snprintf(torn_note + strlen(torn_note),
				    sizeof(torn_note) - strlen(torn_note), "%storn %s %zu",
				    torn_note[0] != '\0' ? "; " : "", s->conf->path, torn);
		}
		(void)flock(ref->fd, LOCK_UN);
		a->known_size = -1;	/* re-read the head at the first batch */
	} else if (conf->audit_fail_closed) {
		snprintf(err, errlen, "no audit file can be opened (fail-closed)");
		goto out;
	}
	/* after catch-up, which may fail a sink too */
	a->sinks_failed = count_failed(a);
	a->checkpoint_ms = a->sync_ms = kl_monotonic_ms();
	a->running = 1;
	/*
	 * The writer must never take the host's signals: a thread inherits
	 * the creator's mask, and mysqld loads its keyring before it blocks
	 * SIGTERM for its signal thread, so an unblocked writer received
	 * SIGTERM and the default action killed mysqld without a shutdown.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old_mask);
	rc = pthread_create(&a->thread, NULL, writer, a);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "audit: cannot start the writer thread");
		a->running = 0;
		goto out;
	}
	/* a restart continues the chain; a torn tail is declared, never hidden */
	memset(&ev, 0, sizeof(ev));
	ev.op = torn_note[0] != '\0' ? AUDIT_RESUME : AUDIT_START;
	ev.detail = torn_note[0] != '\0' ? torn_note : NULL;
	audit_emit(a, &ev);
	if (a->sinks_failed > 0) {
		/* the trail says so itself, not only the diagnostic log */
		snprintf(torn_note, sizeof(torn_note), "%zu of %zu audit sinks failing at start",
		    a->sinks_failed, a->n_sinks);
		ev.op = AUDIT_SINK_FAILED;
		ev.detail = torn_note;
		audit_emit(a, &ev);
	}
	*out = a;
	a = NULL;
	r = 0;
 out:
	if (a != NULL)
		audit_release(a, 1);
	return r;
}

void
audit_flush(struct audit *a)
{
	uint64_t want;
	int i, done = 0;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	want = a->enqueued;
	pthread_mutex_unlock(&a->lock);
	/* until everything queued before this call is durable (at most 10 s) */
	for (i = 0; i < 1000 && !done; i++) {
		pthread_mutex_lock(&a->lock);
		done = !a->running || a->durable >= want;
		if (!done) {
			a->flush_req = 1;
			pthread_cond_signal(&a->wake);
		}
		pthread_mutex_unlock(&a->lock);
		if (!done)
			usleep(2000);
	}
}

void
audit_close(struct audit *a)
{
	struct audit_event ev;

	if (a == NULL)
		return;
	if (a->running) {
		memset(&ev, 0, sizeof(ev));
		ev.op = AUDIT_STOP;
		audit_emit(a, &ev);
		pthread_mutex_lock(&a->lock);
		a->stop = 1;
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
		a->running = 0;
	}
	audit_release(a, 1);
}

void
audit_abandon(struct audit *a)
{
	/* a fork child: the writer thread, and maybe its locks, are the parent's */
	if (a != NULL)
		audit_release(a, 0);
}
