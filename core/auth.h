/*
 * auth.h - sessions on the request path: the cookie names a session whose
 * token only the client holds (the database keeps its SHA-256); idle and
 * absolute timeouts are enforced here on every request; unsafe methods need
 * the session's CSRF token and a same-origin Origin or Referer.
 *
 * Account operations (login, passwords, TOTP, activation) are in
 * identity.c; this file is only what every request needs.
 */
#ifndef ATRIUM_AUTH_H
#define ATRIUM_AUTH_H

#include "request.h"
#include "router.h"

/* Fills req->ctx with the signed-in user when the cookie names a live
 * session, and refreshes its idle timer. 0 (also for anonymous), -1 when
 * the database fails. */
int auth_resolve(struct request *req);
/* 1 when an unsafe request passes the CSRF rules. */
int auth_csrf_ok(struct request *req);
/* 0 when the user must enrol TOTP first and rt is not an enrolment route. */
int auth_route_allowed_now(struct request *req, const struct route *rt);
/* Does this role have to use TOTP? */
int auth_totp_required(unsigned role);
/* Does the signed-in user still need to enrol TOTP? One indexed read. */
int auth_must_enroll(struct atr_ctx *ctx);

/* Cookies of the core: `base` is "atrium_session" or "atrium_device"; over
 * TLS the name gets the __Host- prefix and the cookie Secure. Every cookie
 * is HttpOnly; SameSite=Strict; Path=/. value and the request's arena:
 * the header text is copied there. */
const char *auth_cookie_get(struct request *req, const char *base);
void auth_cookie_set(struct atr_ctx *ctx, const char *base, const char *value,
		     long long max_age);

/* Loads (or makes, once) the key CSRF tokens are derived with. Call after
 * the core migrations, before serving. 0 or -1. */
int auth_init(struct db *db);
/* The CSRF token of the current session (arena), or NULL. */
const char *session_csrf(struct atr_ctx *ctx);
/* Starts a session for user_id: new token, cookie header set on the
 * response, csrf token returned (arena). NULL on failure. */
const char *session_create(struct atr_ctx *ctx, long long user_id);
/* Gives the current session (ctx->session_id) a new token and a new CSRF
 * token, keeping its id and absolute expiry: for privilege changes. The
 * new cookie is set on the response; returns the CSRF token (arena), or
 * NULL when the database fails (the old token then stays valid). */
const char *session_rotate(struct atr_ctx *ctx);
/* Revokes one session of the user; ATR_ENOTFOUND when not theirs. */
int session_revoke(struct atr_ctx *ctx, long long user_id,
		   long long session_id);
/* Revokes all of a user's sessions except `keep` (0 = all). */
int session_revoke_all(struct atr_ctx *ctx, long long user_id,
		       long long keep);
/* Sets the cookie that clears the session in the browser. */
void session_clear_cookie(struct atr_ctx *ctx);
/* Idle timeout in seconds for a role. */
int session_idle_timeout(unsigned role);

#endif
