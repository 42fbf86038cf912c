#include "common/util.h"
#include "common/log.h"
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define SECRET_FILE_MAX 4096

size_t
kl_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src);

	if (dstlen > 0) {
		size_t c = n < dstlen - 1 ? n : dstlen - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
kl_hex_encode(const void *in, size_t len, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	if (len > (SIZE_MAX - 1) / 2 || outlen < 2 * len + 1)
		return -1;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
	return 0;
}

static int
hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
kl_hex_decode(const char *in, size_t inlen, void *out, size_t outlen)
{
	unsigned char *o = out;
	size_t i;
	int hi, lo;

	if (inlen % 2 != 0 || inlen / 2 > outlen || inlen / 2 > LONG_MAX)
		return -1;
	for (i = 0; i < inlen / 2; i++) {
		if ((hi = hex_nibble(in[2 * i])) < 0 ||
		    (lo = hex_nibble(in[2 * i + 1])) < 0)
			return -1;
		o[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(inlen / 2);
}

void
kl_p11_strfill(unsigned char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n > dstlen)
		n = dstlen;
	memset(dst, ' ', dstlen);
	memcpy(dst, src, n);
}

void
kl_p11_strtrim(const unsigned char *src, size_t srclen, char *dst, size_t dstlen)
{
	size_t n = srclen;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	if (dstlen == 0)
		return;
	if (n > dstlen - 1)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int
kl_read_secret_file(const char *path, struct kl_secret *out, char *err, size_t errlen)
{
	unsigned char buf[SECRET_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd = -1, r = -1;

	out->p = NULL;
	out->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "cannot open PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "PIN file %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "PIN file %s is owned by uid %u, not by this user "
		    "(uid %u) or root: chown it", path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "PIN file %s is readable or writable by group or "
		    "others (mode %03o): chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read PIN file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf)) {
			snprintf(err, errlen, "PIN file %s is larger than %d bytes", path,
			    SECRET_FILE_MAX);
			goto out;
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		snprintf(err, errlen, "PIN file %s is empty", path);
		goto out;
	}
	if (kl_secret_dup(out, buf, len) != 0) {
		snprintf(err, errlen, "out of secure memory reading %s", path);
		goto out;
	}
	r = 0;
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return r;
}

void *
kl_memrchr(const void *p, int c, size_t len)
{
	const unsigned char *b = p;

	while (len-- > 0) {
		if (b[len] == (unsigned char)c)
			return (void *)(b + len);
	}
	return NULL;
}

int
kl_fsync_parent_dir(const char *path)
{
	char tmp[PATH_MAX];
	int fd, r, saved;

	if (kl_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

void
kl_utc_timestamp(char buf[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%06uZ", (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

uint64_t
kl_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
