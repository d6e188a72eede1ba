/*
 * curl_dyn.h - libcurl, loaded only when a practice switches email or the
 * webhook on. Linking libcurl (and what it pulls in: HTTP/2, SSH, LDAP, ...)
 * costs every atriumd about 3.5 MB of resident memory that most practices
 * never use. Files that send mail or webhooks include this header instead of
 * <curl/curl.h>; the curl_* names they call are mapped to pointers filled by
 * curl_dyn_load(). Not a general libcurl wrapper: only what Atrium calls.
 */
#ifndef ATRIUM_CURL_DYN_H
#define ATRIUM_CURL_DYN_H

#include <curl/curl.h>

/* dlopen("libcurl.so.4") and resolve the functions; 0, or -1 with the
 * reason in err. Idempotent; call from one thread at start. */
int curl_dyn_load(char *err, size_t errlen);
/* 1 once curl_dyn_load succeeded. */
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
/* curl_easy_setopt is variadic: the argument's type follows from the
 * option number's range (long, pointer, function, curl_off_t). */
CURLcode dyn_curl_easy_setopt(CURL *c, CURLoption opt, ...);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init dyn_curl_global_init
#define curl_global_cleanup dyn_curl_global_cleanup
#define curl_easy_init dyn_curl_easy_init
#define curl_easy_cleanup dyn_curl_easy_cleanup
#define curl_easy_perform dyn_curl_easy_perform
#define curl_easy_strerror dyn_curl_easy_strerror
#define curl_slist_append dyn_curl_slist_append
#define curl_slist_free_all dyn_curl_slist_free_all
#define curl_easy_setopt dyn_curl_easy_setopt
#define curl_easy_getinfo dyn_curl_easy_getinfo_long

#endif
