/*
 * notify_template.c - the message templates (one title and one body per
 * kind and language) and the text hygiene every message goes through:
 * control characters out of header fields, addresses and links checked.
 *
 * A template may only use {{practice_name}} and {{link}}: nothing from a
 * notification's data can reach a message that leaves the portal, which is
 * how the no-clinical-detail rule is kept by construction. Templates are
 * loaded once at start and read-only afterwards, so any thread may render.
 * This file does not decide which channel gets what (notify_worker.c).
 */
#include "notify.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LINE_MAX_BYTES 900
#define KIND_MAX 64

struct tmpl {
	char lang[16];
	char kind[KIND_MAX + 1];
	char *title, *body;
};

static struct tmpl *tmpls;
static size_t ntmpls;

/* The built-in English templates: used when the theme has none. */
static const struct {
	const char *kind, *text;
} builtin[] = {
    {"generic",
     "New notification from {{practice_name}}\n\n"
     "Hello,\n\n"
     "There is a new notification for you in the {{practice_name}} "
     "patient portal. Please sign in to read it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"appointment_reminder",
     "Appointment reminder from {{practice_name}}\n\n"
     "Hello,\n\n"
     "You have an upcoming appointment with {{practice_name}}. Please "
     "sign in to the patient portal to see the details:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"appointment_confirmation",
     "Your appointment request at {{practice_name}}\n\n"
     "Hello,\n\n"
     "There is an update about an appointment with {{practice_name}}. "
     "Please sign in to the patient portal to see it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"waitlist_offer",
     "An earlier appointment may be available at {{practice_name}}\n\n"
     "Hello,\n\n"
     "An appointment you were waiting for may be available at "
     "{{practice_name}}. Offers are first come, first served; please "
     "sign in to the patient portal soon to see it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"waitlist_lost",
     "Update on your waiting list entry at {{practice_name}}\n\n"
     "Hello,\n\n"
     "There is an update about your waiting list entry at "
     "{{practice_name}}. Please sign in to the patient portal to see "
     "it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"new_message",
     "New message from {{practice_name}}\n\n"
     "Hello,\n\n"
     "You have a new message from your care team at {{practice_name}}. "
     "Please sign in to the patient portal to read it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"statement",
     "New statement from {{practice_name}}\n\n"
     "Hello,\n\n"
     "A new statement from {{practice_name}} is available. Please sign "
     "in to the patient portal to see it:\n\n"
     "{{link}}\n\n"
     "This message was sent automatically; please do not reply to it.\n"},
    {"email_verification",
     "Confirm your email address for {{practice_name}}\n\n"
     "Hello,\n\n"
     "Someone asked to use this address for notifications from the "
     "{{practice_name}} patient portal. If it was you, sign in and "
     "open this link within 24 hours to confirm it:\n\n"
     "{{link}}\n\n"
     "If it was not you, you can ignore this message.\n"},
};

/* ---- UTF-8 and control characters ---------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return len;
}

/* Is the sequence of len bytes at s a control character (C0, DEL, C1)? */
static int is_control(const unsigned char *s, size_t len)
{
	if (len == 1)
		return s[0] < 0x20 || s[0] == 0x7F;
	return len == 2 && s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F;
}

void notify_clean_line(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	size_t n = strlen(s);

	while (n) {
		size_t len = utf8_seq(r, n);
		if (!len) { /* an invalid byte: drop it */
			r++, n--;
			continue;
		}
		if (!is_control(r, len)) {
			memmove(w, r, len);
			w += len;
		}
		r += len, n -= len;
	}
	*w = '\0';
}

void notify_truncate(char *s, size_t max)
{
	if (strlen(s) <= max)
		return;
	while (max && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

char *notify_clean_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	const unsigned char *r = (const unsigned char *)s;
	char *out = malloc(n + 1), *w = out;

	if (!out)
		return NULL;
	while (n) {
		size_t len = utf8_seq(r, n);
		if (!len) {
			r++, n--;
			continue;
		}
		if (!is_control(r, len) || *r == '\n' || *r == '\t') {
			memcpy(w, r, len);
			w += len;
		}
		r += len, n -= len;
	}
	*w = '\0';
	notify_truncate(out, max);
	return out;
}

int notify_address_ok(const char *a)
{
	const char *at, *dot;
	size_t n;

	if (!a || (n = strlen(a)) == 0 || n > NOTIFY_ADDRESS_MAX)
		return 0;
	for (const char *p = a; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7F || strchr(",<>\"\\;:()[]", c))
			return 0;
	}
	at = strchr(a, '@');
	if (!at || at == a || strchr(at + 1, '@') || at - a > 64)
		return 0;
	dot = strchr(at + 1, '.');
	if (!dot || at[1] == '.' || a[n - 1] == '.' || strstr(at, ".."))
		return 0;
	return 1;
}

int notify_link_ok(const char *path)
{
	size_t n;

	if (!path || path[0] != '/' || path[1] == '/' ||
	    (n = strlen(path)) > NOTIFY_LINK_MAX || strstr(path, ".."))
		return 0;
	/* A same-origin path; after the '#', the shell's own query
	 * ("#/p/scheduling/offer?token=...") may use ? = and &. */
	const char *hash = strchr(path, '#');
	for (size_t i = 0; i < n; i++) {
		char c = path[i];
		int in_fragment = hash && path + i > hash;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("/_.~#-", c) ||
		      (in_fragment && strchr("?=&", c))))
			return 0;
	}
	return 1;
}

int notify_lang_ok(const char *lang)
{
	size_t i = 0, j;

	if (!lang)
		return 0;
	while (lang[i] >= 'a' && lang[i] <= 'z')
		i++;
	if (i < 2 || i > 3)
		return 0;
	if (!lang[i])
		return 1;
	if (lang[i] != '-')
		return 0;
	for (j = i + 1; lang[j]; j++)
		if (!((lang[j] >= 'a' && lang[j] <= 'z') ||
		      (lang[j] >= 'A' && lang[j] <= 'Z') ||
		      (lang[j] >= '0' && lang[j] <= '9')))
			return 0;
	return j - i - 1 >= 2 && j - i - 1 <= 8;
}

static int kind_ok(const char *k, size_t n)
{
	if (n == 0 || n > KIND_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

/* ---- parsing -------------------------------------------------------- */

/* Every "{{" in s must open {{practice_name}} or {{link}}. */
static int placeholders_ok(const char *s)
{
	for (const char *p = strstr(s, "{{"); p; p = strstr(p + 2, "{{"))
		if (strncmp(p, "{{practice_name}}", 17) &&
		    strncmp(p, "{{link}}", 8))
			return 0;
	return 1;
}

int notify_template_parse(const char *text, size_t len, char **title,
			  char **body, char *err, size_t errlen)
{
	char *buf = NULL, *w, *nl, *b;
	size_t i, line = 0;

	*title = *body = NULL;
	if (len > NOTIFY_FILE_MAX) {
		snprintf(err, errlen, "template is larger than %d bytes",
			 NOTIFY_FILE_MAX);
		return -1;
	}
	buf = malloc(len + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* CRLF -> LF; any other control character (a bare CR too) refused. */
	for (i = 0, w = buf; i < len;) {
		size_t n = utf8_seq((const unsigned char *)text + i, len - i);
		if (!n) {
			snprintf(err, errlen, "template is not valid UTF-8");
			goto fail;
		}
		if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') {
			i++;
			continue;
		}
		if (is_control((const unsigned char *)text + i, n) &&
		    text[i] != '\n' && text[i] != '\t') {
			snprintf(err, errlen,
				 "template holds a control character");
			goto fail;
		}
		memcpy(w, text + i, n);
		w += n, i += n;
	}
	*w = '\0';
	while (w > buf && w[-1] == '\n')
		*--w = '\0';
	for (char *p = buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if ((nl ? (size_t)(nl - p) : strlen(p)) > LINE_MAX_BYTES) {
			snprintf(err, errlen, "line %zu is longer than %d bytes",
				 line + 1, LINE_MAX_BYTES);
			goto fail;
		}
		line++;
		if (!nl)
			break;
	}
	nl = strchr(buf, '\n');
	if (!nl || nl == buf || nl[1] != '\n' || !nl[2]) {
		snprintf(err, errlen, "template must be a title line, an empty "
				      "line and a body");
		goto fail;
	}
	*nl = '\0';
	b = nl + 2;
	if (strchr(buf, '\t') || strlen(buf) > NOTIFY_TITLE_MAX) {
		snprintf(err, errlen,
			 "title must be one line of at most %d bytes without "
			 "tabs",
			 NOTIFY_TITLE_MAX);
		goto fail;
	}
	if (strlen(b) > NOTIFY_BODY_MAX) {
		snprintf(err, errlen, "body is larger than %d bytes",
			 NOTIFY_BODY_MAX);
		goto fail;
	}
	if (!placeholders_ok(buf) || !placeholders_ok(b)) {
		snprintf(err, errlen, "only {{practice_name}} and {{link}} "
				      "may be used");
		goto fail;
	}
	*title = strdup(buf);
	*body = strdup(b);
	if (!*title || !*body) {
		free(*title);
		free(*body);
		*title = *body = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

/* ---- the table ------------------------------------------------------ */

static struct tmpl *find(const char *kind, const char *lang)
{
	for (size_t i = 0; i < ntmpls; i++)
		if (!strcmp(tmpls[i].kind, kind) &&
		    !strcmp(tmpls[i].lang, lang))
			return &tmpls[i];
	return NULL;
}

/* Add or replace (lang, kind); takes title and body. */
static int put(const char *lang, const char *kind, char *title, char *body)
{
	struct tmpl *t = find(kind, lang);

	if (!t) {
		struct tmpl *n = realloc(tmpls, (ntmpls + 1) * sizeof(*n));
		if (!n)
			return -1;
		tmpls = n;
		t = &tmpls[ntmpls++];
		snprintf(t->lang, sizeof(t->lang), "%s", lang);
		snprintf(t->kind, sizeof(t->kind), "%s", kind);
	} else {
		free(t->title);
		free(t->body);
	}
	t->title = title;
	t->body = body;
	return 0;
}

static int load_file(const char *path, const char *lang, const char *kind,
		     char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *title, *body, why[160];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "notification template '%s' cannot be "
				      "read",
			 path);
		return -1;
	}
	buf = malloc(NOTIFY_FILE_MAX + 2);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(buf, 1, NOTIFY_FILE_MAX + 1, f);
	fclose(f);
	if (notify_template_parse(buf, n, &title, &body, why, sizeof(why))) {
		snprintf(err, errlen, "notification template '%s': %s", path,
			 why);
		free(buf);
		return -1;
	}
	free(buf);
	if (put(lang, kind, title, body)) {
		free(title);
		free(body);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Load THEME_DIR/notifications/<lang>/<kind>.txt; a missing folder is
 * fine. */
static int load_theme(const char *themes_dir, const char *theme, char *err,
		      size_t errlen)
{
	char root[1024], dir[1300], path[1600];
	DIR *d, *ld;
	struct dirent *e, *f;
	int rc = 0;

	snprintf(root, sizeof(root), "%s/%s/notifications", themes_dir,
		 theme);
	d = opendir(root);
	if (!d)
		return 0;
	while (rc == 0 && (e = readdir(d))) {
		if (!notify_lang_ok(e->d_name) ||
		    strlen(e->d_name) >= sizeof(((struct tmpl *)0)->lang))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		if (!is_dir(dir) || !(ld = opendir(dir)))
			continue;
		while (rc == 0 && (f = readdir(ld))) {
			size_t n = strlen(f->d_name);
			char kind[KIND_MAX + 1];
			if (n < 5 || strcmp(f->d_name + n - 4, ".txt") ||
			    !kind_ok(f->d_name, n - 4))
				continue;
			snprintf(kind, sizeof(kind), "%.*s", (int)(n - 4),
				 f->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, f->d_name);
			rc = load_file(path, e->d_name, kind, err, errlen);
		}
		closedir(ld);
	}
	closedir(d);
	return rc;
}

int notify_templates_load(const char *themes_dir, const char *theme,
			  char *err, size_t errlen)
{
	notify_templates_free();
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		char *title, *body;
		if (notify_template_parse(builtin[i].text,
					  strlen(builtin[i].text), &title,
					  &body, err, errlen) ||
		    put("en", builtin[i].kind, title, body))
			return -1;
	}
	if (load_theme(themes_dir, "default", err, errlen))
		return -1;
	if (strcmp(theme, "default") &&
	    load_theme(themes_dir, theme, err, errlen))
		return -1;
	return 0;
}

void notify_templates_free(void)
{
	for (size_t i = 0; i < ntmpls; i++) {
		free(tmpls[i].title);
		free(tmpls[i].body);
	}
	free(tmpls);
	tmpls = NULL;
	ntmpls = 0;
}

int notify_template_has(const char *kind)
{
	for (size_t i = 0; i < ntmpls; i++)
		if (!strcmp(tmpls[i].kind, kind))
			return 1;
	return 0;
}

json_t *notify_template_kinds(void)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < ntmpls; i++) {
		int seen = 0;
		if (!strcmp(tmpls[i].kind, "email_verification"))
			continue;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(tmpls[j].kind, tmpls[i].kind))
				seen = 1;
		if (!seen)
			json_array_append_new(out,
					      json_string(tmpls[i].kind));
	}
	return out;
}

/* ---- rendering ------------------------------------------------------ */

/* A malloc'd copy of t with the two placeholders replaced. */
static char *fill(const char *t, const char *practice, const char *link)
{
	size_t cap = strlen(t) + 1, np = strlen(practice), nl = strlen(link);
	char *out, *w;

	for (const char *p = strstr(t, "{{"); p; p = strstr(p + 2, "{{"))
		cap += np > nl ? np : nl;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (w = out; *t;) {
		if (!strncmp(t, "{{practice_name}}", 17)) {
			memcpy(w, practice, np);
			w += np, t += 17;
		} else if (!strncmp(t, "{{link}}", 8)) {
			memcpy(w, link, nl);
			w += nl, t += 8;
		} else {
			*w++ = *t++;
		}
	}
	*w = '\0';
	return out;
}

int notify_render(const char *kind, const char *lang, const char *practice,
		  const char *link, char **title, char **body)
{
	struct tmpl *t = NULL;
	char *name = NULL, *ln = NULL;

	*title = *body = NULL;
	if (lang && notify_lang_ok(lang))
		t = find(kind, lang);
	if (!t)
		t = find(kind, "en");
	if (!t && lang && notify_lang_ok(lang))
		t = find("generic", lang);
	if (!t)
		t = find("generic", "en");
	if (!t)
		return -1;
	name = strdup(practice ? practice : "");
	ln = strdup(link ? link : "");
	if (!name || !ln)
		goto fail;
	notify_clean_line(name);
	notify_truncate(name, 120);
	notify_clean_line(ln);
	*title = fill(t->title, name, ln);
	*body = fill(t->body, name, ln);
	if (!*title || !*body)
		goto fail;
	notify_clean_line(*title);
	notify_truncate(*title, NOTIFY_TITLE_MAX);
	free(name);
	free(ln);
	return 0;
fail:
	free(name);
	free(ln);
	free(*title);
	free(*body);
	*title = *body = NULL;
	return -1;
}
