/*
 * notify.c - see notify.h. The in-portal channel: every outbox row is a
 * notification the user can list and mark read in the portal.
 */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

#include "core_routes.h"
#include "db.h"
#include "request.h"

static int h_list(struct atr_ctx *ctx)
{
	const char *lim = request_query(ctx->req, "limit");
	long long limit = lim ? strtoll(lim, NULL, 10) : 50;
	json_t *params, *rows, *unread;
	int st;

	if (limit <= 0 || limit > 200)
		limit = 50;
	params = json_pack("[I,I]", ctx->user_id, limit);
	rows = db_query(ctx_db(ctx),
			"SELECT id, kind, ref, data, created_at, "
			"read_at IS NOT NULL AS read FROM outbox "
			"WHERE user_id = ? AND status != 'cancelled' AND "
			"not_before <= strftime('%s','now') "
			"ORDER BY id DESC LIMIT ?",
			params);
	json_decref(params);
	params = json_pack("[I]", ctx->user_id);
	unread = db_one(ctx_db(ctx),
			"SELECT COUNT(*) AS n FROM outbox WHERE user_id "
			"= ? AND read_at IS NULL AND status != 'cancelled' "
			"AND not_before <= strftime('%s','now')",
			params, &st);
	json_decref(params);
	if (!rows || !unread) {
		json_decref(rows);
		json_decref(unread);
		return respond_error(ctx->req, 500, "internal_error",
				     "notifications cannot be read");
	}
	return respond_json(ctx->req, 200,
			    json_pack("{s:o,s:O}", "notifications", rows,
				      "unread", json_object_get(unread, "n")));
}

static const struct core_route routes[] = {
    {"GET", "/api/notifications", h_list, ATR_ROLES_ANY_USER, 0,
     "my notifications"},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int notify_routes_register(struct router *r, char *err, size_t errlen)
{
	return core_routes_add(r, routes, err, errlen);
}

int notify_start(const struct config *cfg)
{
	(void)cfg;
	return 0;
}

void notify_stop(void)
{
}
