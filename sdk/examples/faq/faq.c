/*
 * faq.c - an example Atrium plugin, built out of tree against the installed
 * SDK alone: a practice's frequently asked questions, with a page where
 * patients search them. Shows each part of the contract once: a config key,
 * a migration, routes with roles, the strict JSON body helper, an event,
 * a UI page and an audit record. Not the FAQ assistant a practice would
 * ship: matching is a plain substring search.
 */
#include <string.h>

#include <atrium/plugin.h>

static const struct atr_api *api;

static const struct atr_config_key faq_config[] = {
    {"greeting", ATR_CFG_STRING, "How can we help?", 0,
     "heading shown above the questions"},
    {"max_results", ATR_CFG_INT, "10", 0, "answers returned per search"},
    {NULL, 0, NULL, 0, NULL},
};

static const struct atr_migration faq_migrations[] = {
    {1, "CREATE TABLE faq_entries ("
	" id INTEGER PRIMARY KEY,"
	" question TEXT NOT NULL,"
	" answer TEXT NOT NULL,"
	" created_by INTEGER NOT NULL,"
	" archived INTEGER NOT NULL DEFAULT 0);"},
    {2, "CREATE INDEX faq_entries_live ON faq_entries(archived, id);"},
    {0, NULL},
};

static const struct atr_event_decl faq_events[] = {
    {"faq.after_ask", "user_id,query,matches", NULL,
     "a user searched the questions"},
    {NULL, NULL, NULL, NULL},
};

/* GET /api/faq/entries?q=TEXT */
static int faq_list(struct atr_ctx *ctx)
{
	const char *q = api->req_query(ctx, "q");
	long long max = api->config_int(ctx, "max_results");
	json_t *params, *rows, *ev;
	char *like;

	if (q && strlen(q) > 200)
		return api->respond_error(ctx, 400, "bad_request",
					  "q is longer than 200 bytes");
	like = api->sprintf(ctx, "%%%s%%", q ? q : "");
	params = json_pack("[s,s,I]", like, like, max > 0 ? max : 10);
	rows = api->sql_query(ctx,
			      "SELECT id, question, answer FROM faq_entries "
			      "WHERE archived = 0 AND (question LIKE ? OR "
			      "answer LIKE ?) ORDER BY id LIMIT ?",
			      params);
	json_decref(params);
	if (!rows)
		return api->respond_error(ctx, 500, "internal_error",
					  "the questions cannot be read");
	ev = json_pack("{s:I,s:s,s:I}", "user_id", api->user_id(ctx), "query",
		       q ? q : "", "matches", (json_int_t)json_array_size(rows));
	api->emit(ctx, "faq.after_ask", ev, NULL);
	json_decref(ev);
	return api->respond_json(
	    ctx, 200,
	    json_pack("{s:s,s:o}", "greeting",
		      api->config_str(ctx, "greeting"), "entries", rows));
}

static const struct atr_field entry_fields[] = {
    {"question", ATR_F_STRING, 1, 300},
    {"answer", ATR_F_STRING, 1, 4000},
    {NULL, 0, 0, 0},
};

/* POST /api/faq/entries {"question","answer"} (staff) */
static int faq_add(struct atr_ctx *ctx)
{
	json_t *body = api->req_json(ctx, entry_fields), *params;
	long long id = 0;
	int rc;

	if (!body)
		return ATR_ERESPONDED; /* the 400 is written */
	params = json_pack("[O,O,I]", json_object_get(body, "question"),
			   json_object_get(body, "answer"), api->user_id(ctx));
	rc = api->sql_exec(ctx,
			   "INSERT INTO faq_entries (question, answer, "
			   "created_by) VALUES (?, ?, ?)",
			   params, NULL, &id);
	json_decref(params);
	if (rc != ATR_OK)
		return api->respond_error(ctx, 500, "internal_error",
					  "the question cannot be saved");
	api->audit(ctx, "faq.add", 0, "faq_entry",
		   api->sprintf(ctx, "%lld", id), "ok");
	return api->respond_json(ctx, 201,
				 json_pack("{s:{s:I,s:O,s:O}}", "entry", "id",
					   id, "question",
					   json_object_get(body, "question"),
					   "answer",
					   json_object_get(body, "answer")));
}

/* DELETE /api/faq/entries/:id (staff): archived, never deleted. */
static int faq_archive(struct atr_ctx *ctx)
{
	json_t *params = json_pack("[s]", api->req_param(ctx, "id"));
	long long changed = 0;
	int rc = api->sql_exec(ctx,
			       "UPDATE faq_entries SET archived = 1 WHERE id = "
			       "CAST(? AS INTEGER) AND archived = 0",
			       params, &changed, NULL);
	json_decref(params);
	if (rc != ATR_OK)
		return api->respond_error(ctx, 500, "internal_error",
					  "the question cannot be archived");
	if (!changed)
		return api->respond_error(ctx, 404, "not_found",
					  "no such question");
	return api->respond_json(ctx, 204, NULL);
}

static const struct atr_route faq_routes[] = {
    {"GET", "/entries", faq_list, ATR_ROLES_ANY_USER, 0,
     "search the practice's questions", NULL,
     "{\"type\":\"object\",\"properties\":{\"entries\":{\"type\":"
     "\"array\"}}}"},
    {"POST", "/entries", faq_add, ATR_ROLES_CARE_TEAM | ATR_ROLE_ADMIN, 0,
     "add a question",
     "{\"type\":\"object\",\"required\":[\"question\",\"answer\"]}", NULL},
    {"DELETE", "/entries/:id", faq_archive,
     ATR_ROLES_CARE_TEAM | ATR_ROLE_ADMIN, 0, "archive a question", NULL,
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static int faq_init(struct atr_ctx *ctx, const struct atr_api *host,
		    char **errmsg)
{
	json_t *pages;
	int rc;
	(void)errmsg;
	if (host->abi_major != ATR_ABI_MAJOR)
		return ATR_EINVAL;
	api = host;
	pages = json_pack("[{s:s,s:s,s:s,s:[s,s,s,s]}]", "id", "faq", "title",
			  "Questions", "module", "faq.js", "roles", "patient",
			  "staff", "physician", "admin");
	rc = api->register_ui(ctx, "faq/ui", pages);
	json_decref(pages);
	return rc;
}

ATR_PLUGIN_EXPORT(faq_plugin) = {
    ATR_PLUGIN_HEADER,
    .name = "faq",
    .version = "1.0.0",
    .description = "frequently asked questions (SDK example)",
    .requires = NULL,
    .config = faq_config,
    .migrations = faq_migrations,
    .routes = faq_routes,
    .events = faq_events,
    .init = faq_init,
    .fini = NULL,
};
