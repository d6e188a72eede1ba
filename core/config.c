/*
 * config.c - core settings schema and the inih glue.
 *
 * inih's compiled line limit is 200 bytes (Debian builds it that way), and
 * its handler is not told the line number. Both are handled by the reader
 * we give ini_parse_stream: it reads whole physical lines itself (up to
 * CONFIG_MAX_LINE), counts them, and passes lines too long for inih's buffer
 * as "key = \x1eN" while it keeps the real value aside, so long values work.
 * The reader also drops leading blanks (inih would take an indented line as
 * the continuation of the previous value) and blanks out comment lines, so
 * a long comment is never mistaken for a long key = value line.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_MAX_LINE 8192
#define LONG_MARK '\x1e'

struct config *g_cfg;

enum opt_type { O_STR, O_INT, O_LL, O_BOOL };

struct opt {
	const char *section, *key;
	enum opt_type type;
	size_t off;
	const char *def;
	long long min, max;
	const char *const *choices; /* O_STR: NULL-terminated, or NULL = any */
};

static const char *const poll_choices[] = {"poll", "epoll", NULL};

#define S(sec, k, field, d)                                                    \
	{sec, k, O_STR, offsetof(struct config, field), d, 0, 0, NULL}
#define E(sec, k, field, d, ch)                                                \
	{sec, k, O_STR, offsetof(struct config, field), d, 0, 0, ch}
#define I(sec, k, field, d, lo, hi)                                            \
	{sec, k, O_INT, offsetof(struct config, field), d, lo, hi, NULL}
#define L(sec, k, field, d, lo, hi)                                            \
	{sec, k, O_LL, offsetof(struct config, field), d, lo, hi, NULL}
#define B(sec, k, field, d)                                                    \
	{sec, k, O_BOOL, offsetof(struct config, field), d, 0, 1, NULL}

static const struct opt opts[] = {
    S("server", "address", address, "127.0.0.1"),
    I("server", "port", port, "8080", 0, 65535),
    I("server", "workers", workers, "0", 0, 256),
    S("server", "theme", theme, "default"),
    S("server", "themes_dir", themes_dir, "themes"),
    S("server", "plugin_dir", plugin_dir, "build/plugins"),
    I("server", "connection_timeout", connection_timeout, "30", 1, 3600),
    I("server", "max_connections", max_connections, "1024", 1, 100000),
    I("server", "max_connections_per_ip", max_connections_per_ip, "512", 1,
      100000),
    L("server", "connection_memory", connection_memory, "65536", 16384,
      16777216),
    L("server", "max_body", max_body, "1048576", 1024, 1073741824),
    B("server", "access_log", access_log, "on"),
    I("server", "shutdown_grace", shutdown_grace, "10", 0, 600),
    E("server", "poll", poll, "poll", poll_choices),
    S("server", "tls_cert", tls_cert, ""),
    S("server", "tls_key", tls_key, ""),
    S("server", "base_url", base_url, ""),

    S("database", "path", db_path, "atrium.db"),
    I("database", "busy_timeout_ms", busy_timeout_ms, "5000", 0, 600000),

    S("practice", "name", practice_name, "Atrium Practice"),
    S("practice", "timezone", timezone, "UTC"),
    S("practice", "color_primary", color_primary, "#1f5f8b"),
    S("practice", "color_accent", color_accent, "#2e7d5b"),

    B("auth", "self_registration", self_registration, "off"),
    I("auth", "idle_timeout_patient", idle_timeout_patient, "1800", 10,
      86400),
    I("auth", "idle_timeout_staff", idle_timeout_staff, "900", 10, 86400),
    I("auth", "absolute_timeout", absolute_timeout, "43200", 10, 604800),
    B("auth", "totp_physician", totp_physician, "off"),
    B("auth", "totp_staff", totp_staff, "off"),
    I("auth", "activation_ttl_hours", activation_ttl_hours, "72", 1, 2160),
    I("auth", "hash_threads", hash_threads, "1", 1, 64),
    I("auth", "hash_queue", hash_queue, "64", 1, 100000),
    I("auth", "password_ops", pw_ops, "2", 1, 16),
    I("auth", "password_mem_kib", pw_mem_kib, "19456", 8, 4194304),
    I("auth", "lockout_threshold", lockout_threshold, "5", 1, 1000),

    S("workflows", "dir", workflows_dir, "config/workflows"),
    L("workflows", "instructions", wf_instructions, "1000000", 1000,
      1000000000),
    I("workflows", "deadline_ms", wf_deadline_ms, "50", 1, 60000),
    I("workflows", "memory_mb", wf_memory_mb, "16", 1, 4096),
    B("workflows", "fail_closed", wf_fail_closed, "off"),

    B("notify", "portal", notify_portal, "on"),
    B("notify", "email", notify_email, "off"),
    B("notify", "webhook", notify_webhook, "off"),
    S("notify", "smtp_url", smtp_url, ""),
    S("notify", "smtp_user", smtp_user, ""),
    S("notify", "smtp_password", smtp_password, ""),
    S("notify", "smtp_from", smtp_from, ""),
    B("notify", "smtp_starttls", smtp_starttls, "on"),
    S("notify", "webhook_url", webhook_url, ""),
    S("notify", "webhook_secret", webhook_secret, ""),
    I("notify", "timeout", notify_timeout, "10", 1, 300),
    I("notify", "max_attempts", notify_max_attempts, "6", 1, 100),
    I("notify", "retry_base", notify_retry_base, "60", 1, 86400),
    I("notify", "retry_max", notify_retry_max, "3600", 1, 604800),
    S("notify", "quiet_start", quiet_start, "21:00"),
    S("notify", "quiet_end", quiet_end, "08:00"),
    I("notify", "rate_per_hour", notify_rate_per_hour, "10", 1, 100000),
    S("notify", "defaults", notify_defaults, ""),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int config_parse_bool(const char *v)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

/* Sets one option from text; returns NULL or a static error message. */
static const char *opt_set(struct config *cfg, const struct opt *o,
			   const char *v)
{
	char *base = (char *)cfg, *end;
	long long n;
	int b;

	switch (o->type) {
	case O_STR: {
		char **dst = (char **)(base + o->off);
		char *copy;
		if (o->choices) {
			size_t i = 0;
			while (o->choices[i] && strcmp(o->choices[i], v))
				i++;
			if (!o->choices[i])
				return "not one of the allowed values";
		}
		copy = strdup(v);
		if (!copy)
			return "out of memory";
		free(*dst);
		*dst = copy;
		return NULL;
	}
	case O_INT:
	case O_LL:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			return "expected an integer";
		if (n < o->min || n > o->max)
			return "value out of range";
		if (o->type == O_INT)
			*(int *)(base + o->off) = (int)n;
		else
			*(long long *)(base + o->off) = n;
		return NULL;
	case O_BOOL:
		b = config_parse_bool(v);
		if (b < 0)
			return "expected on or off";
		*(int *)(base + o->off) = b;
		return NULL;
	}
	return "bad option type";
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++)
		(void)opt_set(cfg, &opts[i], opts[i].def);
}

struct parse_state {
	struct config *cfg;
	FILE *f;
	int line;
	char *err;
	size_t errlen;
	int failed;
	int fail_line;  /* line of the first refused entry */
	int *seen_line; /* per core option: line it was set on, 0 = unset */
	char **longvals; /* values of lines too long for inih */
	size_t nlong;
	char *buf; /* whole physical line */
};

static void fail(struct parse_state *ps, const char *fmt, const char *a,
		 const char *b)
{
	char msg[512];
	if (ps->failed)
		return;
	ps->failed = 1;
	ps->fail_line = ps->line;
	snprintf(msg, sizeof(msg), fmt, a, b);
	snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->cfg->file, ps->line,
		 msg);
}

static int valid_plugin_name(const char *s)
{
	if (!*s || !islower((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_')
			return 0;
	return 1;
}

static int push_entry(struct config_entry **arr, size_t *n, const char *sec,
		      const char *key, const char *val, int line)
{
	struct config_entry *a = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!a)
		return -1;
	*arr = a;
	a[*n].section = strdup(sec);
	a[*n].key = strdup(key);
	a[*n].value = strdup(val);
	a[*n].line = line;
	(*n)++;
	return 0;
}

static int entry_exists(const struct config_entry *a, size_t n,
			const char *sec, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].section, sec) && !strcmp(a[i].key, key))
			return a[i].line;
	return 0;
}

static int on_entry(void *user, const char *section, const char *name,
		    const char *value)
{
	struct parse_state *ps = user;
	struct config *cfg = ps->cfg;
	const char *msg;
	int prev;

	if (ps->failed)
		return 0;
	if (value[0] == LONG_MARK) {
		size_t idx = strtoul(value + 1, NULL, 10);
		if (idx >= ps->nlong)
			return 0;
		value = ps->longvals[idx];
	}
	if (!strcmp(section, "plugins")) {
		if (!valid_plugin_name(name)) {
			fail(ps, "bad plugin name '%s'%s", name, "");
			return 0;
		}
		if (config_parse_bool(value) < 0) {
			fail(ps, "plugin '%s': expected on or off, got '%s'",
			     name, value);
			return 0;
		}
		if ((prev = entry_exists(cfg->plugins, cfg->nplugins, section,
					 name))) {
			fail(ps, "duplicate key '%s' in [plugins]%s", name, "");
			return 0;
		}
		if (push_entry(&cfg->plugins, &cfg->nplugins, section, name,
			       value, ps->line))
			return 0;
		return 1;
	}
	if (!strncmp(section, "plugin.", 7)) {
		if (!valid_plugin_name(section + 7)) {
			fail(ps, "bad plugin section [%s]%s", section, "");
			return 0;
		}
		if (entry_exists(cfg->plugin_opts, cfg->nplugin_opts, section,
				 name)) {
			fail(ps, "duplicate key '%s' in [%s]", name, section);
			return 0;
		}
		if (push_entry(&cfg->plugin_opts, &cfg->nplugin_opts, section,
			       name, value, ps->line))
			return 0;
		return 1;
	}
	for (size_t i = 0; i < NOPTS; i++) {
		if (strcmp(opts[i].section, section))
			continue;
		if (strcmp(opts[i].key, name))
			continue;
		if (ps->seen_line[i]) {
			fail(ps, "duplicate key '%s' in [%s]", name, section);
			return 0;
		}
		ps->seen_line[i] = ps->line;
		if ((msg = opt_set(cfg, &opts[i], value))) {
			char m[256];
			if (opts[i].min < opts[i].max &&
			    opts[i].type != O_BOOL)
				snprintf(m, sizeof(m), "%s: %s (%lld..%lld)", name,
					 msg, opts[i].min, opts[i].max);
			else
				snprintf(m, sizeof(m), "%s: %s", name, msg);
			fail(ps, "%s%s", m, "");
			return 0;
		}
		return 1;
	}
	for (size_t i = 0; i < NOPTS; i++)
		if (!strcmp(opts[i].section, section)) {
			fail(ps, "unknown key '%s' in [%s]", name, section);
			return 0;
		}
	fail(ps, "unknown section [%s]%s", section, "");
	return 0;
}

static int known_section(const char *name)
{
	if (!strcmp(name, "plugins"))
		return 1;
	if (!strncmp(name, "plugin.", 7))
		return valid_plugin_name(name + 7);
	for (size_t i = 0; i < NOPTS; i++)
		if (!strcmp(opts[i].section, name))
			return 1;
	return 0;
}

/* A "[name]" line: inih tells the handler nothing about a section without
 * keys, so an unknown one is caught here. The name is taken as inih takes
 * it, blanks included. */
static void check_section(struct parse_state *ps, const char *line)
{
	char name[128];
	const char *end = strchr(line, ']');
	if (!end)
		return; /* inih reports the syntax error */
	snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
	if (!known_section(name))
		fail(ps, strncmp(name, "plugin.", 7) ? "unknown section [%s]%s"
						      : "bad plugin section [%s]%s",
		     name, "");
}

/* Trims an inline comment (" ;", as inih does for short lines) and the
 * surrounding space from a value. */
static char *trim_value(char *v)
{
	char *p, *end;
	while (isspace((unsigned char)*v))
		v++;
	for (p = v; *p; p++)
		if (*p == ';' && p > v && isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	end = v + strlen(v);
	while (end > v && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return v;
}

/* ini_reader: hands inih one physical line at a time (see file comment). */
static char *reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	char *line;
	size_t len;

	if (!fgets(ps->buf, CONFIG_MAX_LINE, ps->f))
		return NULL;
	ps->line++;
	len = strlen(ps->buf);
	if (len == CONFIG_MAX_LINE - 1 && ps->buf[len - 1] != '\n') {
		int c;
		while ((c = fgetc(ps->f)) != EOF && c != '\n')
			;
		fail(ps, "line longer than %s bytes%s", "8191", "");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	line = ps->buf;
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == ';' || *line == '#') {
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (*line == '[')
		check_section(ps, line);
	len = strlen(line);
	if (len + 1 <= (size_t)num) {
		memcpy(str, line, len + 1);
		return str;
	}
	/* Long line: must be "key = value"; keep the value aside. */
	{
		char *eq = strpbrk(line, "=:");
		char **lv;
		size_t keylen;
		if (!eq || (size_t)(eq - line) + 16 > (size_t)num) {
			fail(ps, "line too long to be a key = value line%s%s",
			     "", "");
			snprintf(str, (size_t)num, "\n");
			return str;
		}
		lv = realloc(ps->longvals, (ps->nlong + 1) * sizeof(*lv));
		if (lv)
			ps->longvals = lv;
		if (!lv || !(lv[ps->nlong] = strdup(trim_value(eq + 1)))) {
			fail(ps, "out of memory%s%s", "", "");
			snprintf(str, (size_t)num, "\n");
			return str;
		}
		keylen = (size_t)(eq - line);
		snprintf(str, (size_t)num, "%.*s=%c%zu\n", (int)keylen, line,
			 LONG_MARK, ps->nlong);
		ps->nlong++;
		return str;
	}
}

int config_load(struct config *cfg, const char *path, char *err,
		size_t errlen)
{
	struct parse_state ps = {0};
	int rc = -1, r;

	config_defaults(cfg);
	cfg->file = strdup(path);
	ps.cfg = cfg;
	ps.err = err;
	ps.errlen = errlen;
	ps.seen_line = calloc(NOPTS, sizeof(int));
	ps.buf = malloc(CONFIG_MAX_LINE);
	if (!ps.seen_line || !ps.buf || !cfg->file) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ps.f = fopen(path, "r");
	if (!ps.f) {
		snprintf(err, errlen, "%s:0: cannot open: %s", path,
			 strerror(errno));
		goto out;
	}
	r = ini_parse_stream(reader, &ps, on_entry, &ps);
	/* inih reports the first line it refused, ours included: an earlier
	 * line than our own failure is a syntax error. */
	if (r != 0 && (!ps.failed || (r > 0 && r < ps.fail_line))) {
		snprintf(err, errlen, "%s:%d: syntax error", path,
			 r > 0 ? r : ps.line);
		goto out;
	}
	if (ps.failed)
		goto out;
	if ((*cfg->tls_cert != '\0') != (*cfg->tls_key != '\0')) {
		snprintf(err, errlen,
			 "%s: tls_cert and tls_key must be set together",
			 path);
		goto out;
	}
	rc = 0;
out:
	if (ps.f)
		fclose(ps.f);
	for (size_t i = 0; i < ps.nlong; i++)
		free(ps.longvals[i]);
	free(ps.longvals);
	free(ps.seen_line);
	free(ps.buf);
	return rc;
}

static void free_entries(struct config_entry *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].section);
		free(a[i].key);
		free(a[i].value);
	}
	free(a);
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == O_STR)
			free(*(char **)((char *)cfg + opts[i].off));
	free_entries(cfg->plugins, cfg->nplugins);
	free_entries(cfg->plugin_opts, cfg->nplugin_opts);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

int config_plugin_state(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nplugins; i++)
		if (!strcmp(cfg->plugins[i].key, name))
			return config_parse_bool(cfg->plugins[i].value);
	return -1;
}
