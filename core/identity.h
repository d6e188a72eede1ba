/*
 * identity.h - accounts: creation (CLI, admin, activation, registration),
 * login with throttling and TOTP, logout, password change, TOTP enrolment
 * and recovery codes, session listing, and the admin account pages' API.
 * Sessions on the request path are auth.c's.
 */
#ifndef ATRIUM_IDENTITY_H
#define ATRIUM_IDENTITY_H

#include <jansson.h>

#include "request.h"
#include "router.h"

struct db;

int identity_routes_register(struct router *r, char *err, size_t errlen);
/* {"id","username","display_name","role","totp_enabled"} or NULL. */
json_t *identity_user_json(struct atr_ctx *ctx, long long user_id);
/* Creates an account (CLI and demo): checks the username and password
 * policy, hashes on the calling thread. Returns the id (> 0), or an error
 * with a static reason in *why. */
long long identity_create_user(struct db *db, const char *username,
			       const char *display_name, const char *role,
			       const char *password, const char **why);

#endif
