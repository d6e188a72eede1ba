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
/* Does this user (id) still need to enrol? Cached per request. */
int auth_must_enroll(struct atr_ctx *ctx);

/* Starts a session for user_id: new token, cookie header set on the
 * response, csrf token returned (arena). NULL on failure. */
const char *session_create(struct atr_ctx *ctx, long long user_id);
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
