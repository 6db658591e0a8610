// obs log: JSON lines built in a stack buffer and written with one write(2).
#include "obs/log.h"
#include "obs/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/utf8.h"

// The one piece of static configuration: set by obs_log_init() before any
// thread starts, read-only afterwards. Until then: INFO to stderr.
static obs_level log_min_level = OBS_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

// Bytes kept free at the end of the line for what closes it after a cut:
// `…"` (4), `,"truncated":true` (17) and `}\n` (2).
#define TAIL_RESERVE 32
#define BODY_LIMIT   (OBS_LOG_LINE_MAX - TAIL_RESERVE)

typedef struct line {
	char buf[OBS_LOG_LINE_MAX];
	size_t len;
	int truncated;
} line;

void obs_log_init(obs_level min_level, int fd)
{
	log_min_level = min_level;
	log_fd = fd;
}

obs_level obs_level_parse(const char *s, obs_level dflt)
{
	if (s == NULL) {
		return dflt;
	}
	for (int i = OBS_DEBUG; i <= OBS_ERROR; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			return (obs_level)i;
		}
	}
	return strcasecmp(s, "warning") == 0 ? OBS_WARN : dflt;
}

int obs_log_enabled(obs_level lvl)
{
	return lvl >= log_min_level && lvl <= OBS_ERROR;
}

// Appends n bytes if they fit below BODY_LIMIT; -1 (and nothing written) if not.
static int put(line *l, const char *s, size_t n)
{
	if (l->len + n > BODY_LIMIT) {
		return -1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return 0;
}

// Appends into the reserved tail; callers stay within TAIL_RESERVE in total.
static void put_tail(line *l, const char *s)
{
	size_t n = strlen(s);
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

// Writes s as a JSON string. Each character or escape is written whole, so a
// cut never splits one. With may_cut the string ends with "…" when it does not
// fit; without, -1 is returned and the caller rolls back.
static int put_str(line *l, const char *s, int may_cut)
{
	char esc[8];

	if (put(l, "\"", 1) != 0) {
		return -1;
	}
	for (const char *p = s; *p != '\0';) {
		const char *unit = p;
		size_t n = base_utf8_seq((const uint8_t *)p, BASE_UTF8_SEQ_MAX);
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			unit = esc;
			n = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			unit = c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
			n = 2;
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			unit = esc;
			n = 6;
		} else if (n == 0) {
			unit = OBS_TEXT_REPLACEMENT;
			n = OBS_TEXT_REPLACEMENT_LEN;
		}
		p += unit == p ? n : 1;
		if (put(l, unit, n) != 0) {
			if (!may_cut) {
				return -1;
			}
			put_tail(l, "\xE2\x80\xA6\""); // U+2026 HORIZONTAL ELLIPSIS
			l->truncated = 1;
			return 0;
		}
	}
	put_tail(l, "\"");
	return 0;
}

static int put_value(line *l, const obs_field *f)
{
	char num[OBS_TEXT_DOUBLE_CAP];
	size_t n;

	switch (f->type) {
	case OBS_FT_STR:
		return f->v.s == NULL ? put(l, "null", 4) : put_str(l, f->v.s, 1);
	case OBS_FT_INT:
		n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
		return put(l, num, n);
	case OBS_FT_DBL:
		// JSON has no NaN or infinities.
		if (!isfinite(f->v.d)) {
			return put(l, "null", 4);
		}
		n = obs_text_double(num, f->v.d, "null", "null", "null");
		return put(l, num, n);
	case OBS_FT_BOOL:
		return f->v.b ? put(l, "true", 4) : put(l, "false", 5);
	}
	return put(l, "null", 4);
}

// Appends `,"key":value`, or nothing (and marks the line truncated) when it
// does not fit; a long string value is cut rather than dropped.
static void put_field(line *l, const obs_field *f)
{
	size_t mark = l->len;

	if (put(l, ",", 1) != 0 || put_str(l, f->key != NULL ? f->key : "", 0) != 0 ||
	    put(l, ":", 1) != 0 || put_value(l, f) != 0) {
		l->len = mark;
		l->truncated = 1;
	}
}

static void put_timestamp(line *l)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	char out[48];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(out, sizeof(out), "{\"ts\":\"%s.%06ldZ\"", when, ts.tv_nsec / 1000);
	put(l, out, (size_t)n);
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return; // nowhere to report a failed log write
		}
		buf += n;
		len -= (size_t)n;
	}
}

void obs_log_fields(obs_level lvl, const char *msg, const obs_field *fields, size_t n)
{
	line l;
	int saved_errno = errno; // callers often log right before reading errno

	if (!obs_log_enabled(lvl)) {
		return;
	}
	l.len = 0;
	l.truncated = 0;
	put_timestamp(&l);
	put(&l, ",\"level\":\"", 10);
	put(&l, level_names[lvl], strlen(level_names[lvl]));
	put(&l, "\",\"msg\":", 8);
	put_str(&l, msg != NULL ? msg : "", 1);
	for (size_t i = 0; i < n && !l.truncated; i++) {
		put_field(&l, &fields[i]);
	}
	if (l.truncated) {
		put_tail(&l, ",\"truncated\":true");
	}
	put_tail(&l, "}\n");
	write_all(log_fd, l.buf, l.len);
	errno = saved_errno;
}
