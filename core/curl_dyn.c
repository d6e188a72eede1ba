/*
 * curl_dyn.c - see curl_dyn.h.
 */
#define ATRIUM_CURL_DYN_IMPL
#include <curl/curl.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>

/* This file calls the real functions through pointers, so it includes
 * <curl/curl.h> itself and declares the wrappers without the renames. */
int curl_dyn_load(char *err, size_t errlen);
int curl_dyn_loaded(void);
void curl_dyn_unload(void);
CURLcode dyn_curl_global_init(long flags);
void dyn_curl_global_cleanup(void);
CURL *dyn_curl_easy_init(void);
void dyn_curl_easy_cleanup(CURL *c);
CURLcode dyn_curl_easy_perform(CURL *c);
CURLcode dyn_curl_easy_getinfo_long(CURL *c, CURLINFO info, long *out);
const char *dyn_curl_easy_strerror(CURLcode code);
struct curl_slist *dyn_curl_slist_append(struct curl_slist *l, const char *s);
void dyn_curl_slist_free_all(struct curl_slist *l);
CURLcode dyn_curl_easy_setopt(CURL *c, CURLoption opt, ...);

static void *lib;
static struct {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
} fn;

static int resolve(void **slot, const char *name, char *err, size_t errlen)
{
	*slot = dlsym(lib, name);
	if (!*slot) {
		snprintf(err, errlen, "libcurl lacks %s", name);
		return -1;
	}
	return 0;
}

int curl_dyn_load(char *err, size_t errlen)
{
	if (lib)
		return 0;
	lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen,
			 "email and webhook need libcurl (libcurl.so.4), "
			 "which cannot be loaded");
		return -1;
	}
#define R(field, name)                                                         \
	if (resolve((void **)&fn.field, name, err, errlen))                    \
		goto fail;
	R(global_init, "curl_global_init")
	R(global_cleanup, "curl_global_cleanup")
	R(easy_init, "curl_easy_init")
	R(easy_cleanup, "curl_easy_cleanup")
	R(easy_perform, "curl_easy_perform")
	R(easy_getinfo, "curl_easy_getinfo")
	R(easy_strerror, "curl_easy_strerror")
	R(slist_append, "curl_slist_append")
	R(slist_free_all, "curl_slist_free_all")
	R(easy_setopt, "curl_easy_setopt")
#undef R
	return 0;
fail:
	dlclose(lib);
	lib = NULL;
	return -1;
}

int curl_dyn_loaded(void)
{
	return lib != NULL;
}

void curl_dyn_unload(void)
{
	/* libcurl is not unloaded: its libraries may keep thread-local
	 * state and atexit handlers that must outlive this call. */
}

CURLcode dyn_curl_global_init(long flags)
{
	return lib ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

void dyn_curl_global_cleanup(void)
{
	if (lib)
		fn.global_cleanup();
}

CURL *dyn_curl_easy_init(void)
{
	return lib ? fn.easy_init() : NULL;
}

void dyn_curl_easy_cleanup(CURL *c)
{
	if (lib)
		fn.easy_cleanup(c);
}

CURLcode dyn_curl_easy_perform(CURL *c)
{
	return lib ? fn.easy_perform(c) : CURLE_FAILED_INIT;
}

CURLcode dyn_curl_easy_getinfo_long(CURL *c, CURLINFO info, long *out)
{
	return lib ? fn.easy_getinfo(c, info, out) : CURLE_FAILED_INIT;
}

const char *dyn_curl_easy_strerror(CURLcode code)
{
	return lib ? fn.easy_strerror(code) : "libcurl is not loaded";
}

struct curl_slist *dyn_curl_slist_append(struct curl_slist *l, const char *s)
{
	return lib ? fn.slist_append(l, s) : NULL;
}

void dyn_curl_slist_free_all(struct curl_slist *l)
{
	if (lib)
		fn.slist_free_all(l);
}

CURLcode dyn_curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!lib)
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = fn.easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = fn.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}
