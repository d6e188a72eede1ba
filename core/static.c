/*
 * static.c - see static.h. ETags are "mtime-size-inode" in hex; responses
 * are built from the open file descriptor, so nothing is copied into memory.
 */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "plugins.h"

struct mount {
	char *name; /* "" for the theme */
	char *root; /* realpath */
	size_t rootlen;
};

static struct mount theme_; /* served at "/" */
static struct mount shell_; /* the shared shell, behind the theme */
static struct mount *mounts; /* plugin UI folders */
static size_t nmounts;

static int mount_init(struct mount *m, const char *name, const char *dir)
{
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		log_msg(LOG_ERROR, "static: folder '%s': %s", dir,
			strerror(errno));
		return -1;
	}
	m->name = strdup(name);
	m->root = strdup(real);
	m->rootlen = strlen(real);
	return m->name && m->root ? 0 : -1;
}

int static_set_theme(const char *themes_dir, const char *theme)
{
	char dir[PATH_MAX];
	if (!static_path_safe(theme) || strchr(theme, '/')) {
		log_msg(LOG_ERROR, "static: bad theme name '%s'", theme);
		return -1;
	}
	if (!strcmp(theme, STATIC_SHELL)) {
		log_msg(LOG_ERROR, "static: '%s' holds the shared shell, not a "
				   "theme", theme);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/%s", themes_dir, theme);
	free(theme_.name);
	free(theme_.root);
	free(shell_.name);
	free(shell_.root);
	memset(&shell_, 0, sizeof(shell_));
	if (mount_init(&theme_, "", dir))
		return -1;
	/* The shell is optional: a theme may carry every file itself. */
	snprintf(dir, sizeof(dir), "%s/%s", themes_dir, STATIC_SHELL);
	if (access(dir, R_OK | X_OK) == 0 && mount_init(&shell_, "", dir))
		return -1;
	return 0;
}

int static_add_mount(const char *name, const char *dir)
{
	struct mount *m = realloc(mounts, (nmounts + 1) * sizeof(*m));
	if (!m)
		return -1;
	mounts = m;
	if (mount_init(&m[nmounts], name, dir))
		return -1;
	nmounts++;
	return 0;
}

void static_free(void)
{
	for (size_t i = 0; i < nmounts; i++) {
		free(mounts[i].name);
		free(mounts[i].root);
	}
	free(mounts);
	free(theme_.name);
	free(theme_.root);
	memset(&theme_, 0, sizeof(theme_));
	free(shell_.name);
	free(shell_.root);
	memset(&shell_, 0, sizeof(shell_));
	mounts = NULL;
	nmounts = 0;
}

int static_path_safe(const char *rel)
{
	const char *seg = rel;
	if (!*rel)
		return 0;
	for (const char *p = rel; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || c == '\\' || c == ':')
			return 0;
	}
	while (*seg) {
		size_t len = strcspn(seg, "/");
		if (len == 0 || seg[0] == '.') /* "", ".", "..", dotfiles */
			return 0;
		seg += len;
		if (*seg == '/')
			seg++;
	}
	return rel[strlen(rel) - 1] != '/';
}

static const char *mime(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"},
	    {".ico", "image/x-icon"},
	    {".webp", "image/webp"},
	    {".woff2", "font/woff2"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".webmanifest", "application/manifest+json"},
	};
	const char *dot = strrchr(path, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

static int valid_color(const char *c)
{
	size_t n = strlen(c);
	if (c[0] != '#' || (n != 4 && n != 7))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", c[i]))
			return 0;
	return 1;
}

static void practice_css(struct request *req)
{
	const char *p = valid_color(g_cfg->color_primary)
			    ? g_cfg->color_primary
			    : "#1f5f8b";
	const char *a = valid_color(g_cfg->color_accent) ? g_cfg->color_accent
							 : "#2e7d5b";
	char *css = NULL;
	if (asprintf(&css,
		     ":root{--practice-primary:%s;--practice-accent:%s}\n", p,
		     a) < 0)
		css = NULL;
	respond_raw(req, 200, "text/css; charset=utf-8", css,
		    css ? strlen(css) : 0);
	respond_header(req, "Cache-Control", "no-cache");
}

/* rel inside mount m -> its real path (no link may lead out of m).
 * 0 when the file exists there. */
static int resolve(const struct mount *m, const char *rel,
		   char full[PATH_MAX], char real[PATH_MAX])
{
	if ((size_t)snprintf(full, PATH_MAX, "%s/%s", m->root, rel) >=
	    PATH_MAX)
		return -1;
	if (!realpath(full, real) || strncmp(real, m->root, m->rootlen) ||
	    real[m->rootlen] != '/')
		return -1;
	return 0;
}

static void not_found(struct request *req)
{
	respond_error(req, 404, "not_found", "no such file");
}

void static_serve(struct request *req)
{
	const struct mount *m = NULL;
	const char *rel;
	char full[PATH_MAX], real[PATH_MAX], etag[80];
	const char *inm;
	struct stat sb;
	int fd;

	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
		respond_header(req, "Allow", "GET, HEAD");
		respond_error(req, 405, "method_not_allowed",
			      "method %s is not allowed here", req->method);
		return;
	}
	if (!strcmp(req->path, "/practice.css")) {
		practice_css(req);
		return;
	}
	if (!strncmp(req->path, "/plugins/", 9)) {
		const char *name = req->path + 9, *slash = strchr(name, '/');
		if (!slash)
			return not_found(req);
		for (size_t i = 0; i < nmounts; i++)
			if (strlen(mounts[i].name) == (size_t)(slash - name) &&
			    !strncmp(mounts[i].name, name,
				     (size_t)(slash - name)) &&
			    plugins_ui_enabled(mounts[i].name))
				m = &mounts[i];
		rel = slash + 1;
	} else {
		m = theme_.root ? &theme_ : NULL;
		rel = req->path + 1;
		if (!*rel)
			rel = "index.html";
	}
	if (!m || !static_path_safe(rel))
		return not_found(req);
	if (resolve(m, rel, full, real) &&
	    (m != &theme_ || !shell_.root || resolve(&shell_, rel, full, real)))
		return not_found(req);
	/* O_NONBLOCK: a FIFO in the folder must not hang the worker (it is
	 * refused below as not a regular file); O_NOFOLLOW: `real` has no
	 * links left, so one appearing now is a swap under our feet. */
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return not_found(req);
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return not_found(req);
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"",
		 (unsigned long long)sb.st_mtime,
		 (unsigned long long)sb.st_size,
		 (unsigned long long)sb.st_ino);
	respond_header(req, "ETag", arena_strdup(&req->arena, etag));
	respond_header(req, "Cache-Control", "no-cache");
	inm = request_header(req, "If-None-Match");
	if (inm && !strcmp(inm, etag)) {
		close(fd);
		respond_raw(req, 304, NULL, NULL, 0);
		return;
	}
	req->raw = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	if (!req->raw) {
		close(fd);
		respond_error(req, 500, "internal_error", "cannot read file");
		return;
	}
	MHD_add_response_header(req->raw, "Content-Type", mime(real));
	req->responded = 1;
	req->status = 200;
}
