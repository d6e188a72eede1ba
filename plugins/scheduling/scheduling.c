/*
 * scheduling.c - the scheduling plugin's descriptor: its config keys,
 * migrations, routes, events and init. This is the only file the core
 * looks at (as data, through the exported `atrium_plugin`); everything
 * else is reached through the route handlers and callbacks registered
 * here.
 *
 * Self-booking, staff approval, reschedule and cancel up to a cutoff, a
 * waitlist with expiring offers, reminders through the core outbox, and
 * the care team's day/week schedule. See README.md for the data model and
 * the API; it is not a clinical record.
 */
#include "sched.h"

#include <stdlib.h>
#include <string.h>

static const struct atr_config_key sched_config_keys[] = {
    {"cutoff_hours", ATR_CFG_INT, "24", 0,
     "hours before a visit after which patients can no longer cancel or "
     "move it online"},
    {"reminder_leads", ATR_CFG_STRING, "72h,24h,2h", 0,
     "when reminders go out before a visit (m, h, d units)"},
    {"offer_ttl_minutes", ATR_CFG_INT, "120", 0,
     "minutes a waitlist offer stays open"},
    {"slot_minutes", ATR_CFG_INT, "15", 0,
     "spacing of the start times offered inside availability (multiple of "
     "5)"},
    {"default_location", ATR_CFG_STRING, "Main clinic", 0,
     "location of new providers and availability when none is given"},
    {"max_days_ahead", ATR_CFG_INT, "90", 0,
     "how many days ahead visits can be booked"},
    {"offer_batch", ATR_CFG_INT, "3", 0,
     "waitlist entries offered one freed slot at a time (first to accept "
     "wins)"},
    {"offer_check_seconds", ATR_CFG_INT, "60", 0,
     "how often expired offers are passed to the next waitlist entries"},
    {NULL, 0, NULL, 0, NULL},
};

#define BOOK_FIELDS                                                            \
	"patient_id,provider_id,type_id,type_name,new_patient,start,end,"      \
	"start_local,today,minutes_until_start,status,self_booked,"            \
	"patient_primary_provider_id,patient_visit_count,appointment_id,"      \
	"action,location,reminder_leads,booked_by_role"
#define CANCEL_FIELDS                                                          \
	"appointment_id,patient_id,provider_id,type_id,type_name,new_patient," \
	"start,end,start_local,today,minutes_until_start,status,self_booked,"  \
	"patient_primary_provider_id,patient_visit_count,cancelled_by_role,"   \
	"reason,declined"

static const struct atr_event_decl sched_events[] = {
    {"appointment.before_book", BOOK_FIELDS, "status,reminder_leads",
     "a visit is about to be booked, moved or taken from the waitlist "
     "(action book|reschedule|waitlist); set status to 'booked' to "
     "auto-approve or 'pending' to ask staff; deny with a reason"},
    {"appointment.after_book", BOOK_FIELDS, NULL,
     "a visit was booked, moved, approved or taken from the waitlist"},
    {"appointment.before_cancel", CANCEL_FIELDS, NULL,
     "a visit is about to be cancelled or declined; deny with a reason"},
    {"appointment.after_cancel", CANCEL_FIELDS, NULL,
     "a visit was cancelled or declined"},
    {"appointment.noshow",
     "appointment_id,patient_id,provider_id,type_id,type_name,new_patient,"
     "start,end,start_local,today,minutes_until_start,status,self_booked,"
     "patient_primary_provider_id,patient_visit_count,noshow_count",
     NULL, "staff marked a visit as a no-show"},
    {"waitlist.offer_accepted",
     "offer_id,waitlist_id,appointment_id,patient_id,provider_id,type_id,"
     "type_name,start,end,status",
     NULL, "a patient took a slot offered from the waitlist"},
    {NULL, NULL, NULL, NULL},
};

#define ANY ATR_ROLES_ANY_USER
#define CARE ATR_ROLES_CARE_TEAM
#define PC (ATR_ROLE_PATIENT | ATR_ROLES_CARE_TEAM)
#define SETUP (ATR_ROLE_STAFF | ATR_ROLE_ADMIN)
#define PHI ATR_ROUTE_PHI
#define LINK (ATR_ROUTE_PUBLIC | ATR_ROUTE_PHI)

#define BOOK_SCHEMA                                                            \
	"{\"type\":\"object\",\"required\":[\"type_id\",\"provider_id\","      \
	"\"start\"],\"properties\":{\"type_id\":{\"type\":\"integer\"},"       \
	"\"provider_id\":{\"type\":\"integer\"},\"start\":{\"type\":"          \
	"\"string\",\"format\":\"date-time\"},\"patient_id\":{\"type\":"       \
	"\"integer\"}},\"additionalProperties\":false}"
#define APPT_SCHEMA                                                            \
	"{\"type\":\"object\",\"properties\":{\"appointment\":{\"type\":"      \
	"\"object\",\"required\":[\"id\",\"status\",\"start\",\"end\"]}}}"
#define SLOTS_SCHEMA                                                           \
	"{\"type\":\"object\",\"properties\":{\"slots\":{\"type\":\"array\","  \
	"\"items\":{\"type\":\"object\",\"required\":[\"start\",\"end\","      \
	"\"provider_id\",\"type_id\"]}},\"truncated\":{\"type\":"              \
	"\"boolean\"}}}"
#define START_SCHEMA                                                           \
	"{\"type\":\"object\",\"required\":[\"start\"],\"properties\":{"       \
	"\"start\":{\"type\":\"string\",\"format\":\"date-time\"},"            \
	"\"provider_id\":{\"type\":\"integer\"}},\"additionalProperties\":"    \
	"false}"
#define REASON_SCHEMA                                                          \
	"{\"type\":\"object\",\"properties\":{\"reason\":{\"type\":"           \
	"\"string\",\"maxLength\":500}},\"additionalProperties\":false}"

static const struct atr_route sched_routes[] = {
    {"GET", "/providers", sched_h_providers, ANY, 0,
     "providers (physicians) patients can book with", NULL, NULL},
    {"POST", "/providers", sched_h_provider_add, SETUP, 0,
     "make a physician account a provider", NULL, NULL},
    {"PUT", "/providers/:id", sched_h_provider_put, SETUP, 0,
     "change a provider's name, location or active state", NULL, NULL},
    {"GET", "/types", sched_h_types, ANY, 0, "appointment types", NULL, NULL},
    {"POST", "/types", sched_h_type_add, SETUP, 0, "add an appointment type",
     NULL, NULL},
    {"PUT", "/types/:id", sched_h_type_put, SETUP, 0,
     "change an appointment type", NULL, NULL},
    {"DELETE", "/types/:id", sched_h_type_del, SETUP, 0,
     "switch an appointment type off", NULL, NULL},
    {"GET", "/availability", sched_h_templates, CARE | ATR_ROLE_ADMIN, 0,
     "weekly availability templates", NULL, NULL},
    {"POST", "/availability", sched_h_template_add, SETUP, 0,
     "add weekly availability (practice-local wall time)", NULL, NULL},
    {"PUT", "/availability/:id", sched_h_template_put, SETUP, 0,
     "change weekly availability", NULL, NULL},
    {"DELETE", "/availability/:id", sched_h_template_del, SETUP, 0,
     "remove weekly availability", NULL, NULL},
    {"GET", "/blocks", sched_h_blocks, CARE, 0, "blocked time", NULL, NULL},
    {"POST", "/blocks", sched_h_block_add, CARE, 0,
     "block time (a provider's, or the whole practice's)", NULL, NULL},
    {"DELETE", "/blocks/:id", sched_h_block_del, CARE, 0,
     "remove blocked time", NULL, NULL},
    {"GET", "/slots", sched_h_slots, ANY, 0,
     "open slots by type, provider and date range", NULL, SLOTS_SCHEMA},
    {"GET", "/appointments", sched_h_list, PC, PHI,
     "appointments: the caller's own, or filtered (care team)", NULL, NULL},
    {"POST", "/appointments", sched_h_book, PC, PHI,
     "book (or request) a visit; 409 when the slot is taken", BOOK_SCHEMA,
     APPT_SCHEMA},
    {"GET", "/appointments/:id", sched_h_get, PC, PHI, "one appointment",
     NULL, APPT_SCHEMA},
    {"POST", "/appointments/:id/cancel", sched_h_cancel, PC, PHI,
     "cancel a visit (patients: up to the cutoff)", REASON_SCHEMA,
     APPT_SCHEMA},
    {"POST", "/appointments/:id/reschedule", sched_h_reschedule, PC, PHI,
     "move a visit to another slot, atomically", START_SCHEMA, APPT_SCHEMA},
    {"POST", "/appointments/:id/approve", sched_h_approve, CARE, PHI,
     "approve a pending request", NULL, APPT_SCHEMA},
    {"POST", "/appointments/:id/decline", sched_h_decline, CARE, PHI,
     "decline a pending request", REASON_SCHEMA, APPT_SCHEMA},
    {"POST", "/appointments/:id/status", sched_h_status, CARE, PHI,
     "mark arrived, checked-in, fulfilled, noshow or entered-in-error", NULL,
     APPT_SCHEMA},
    {"GET", "/schedule", sched_h_schedule, CARE, PHI,
     "day or week schedule per provider", NULL, NULL},
    {"GET", "/patients/:id/provider", sched_h_primary_get, PC, PHI,
     "a patient's own physician", NULL, NULL},
    {"PUT", "/patients/:id/provider", sched_h_primary_put, CARE, PHI,
     "set a patient's own physician", NULL, NULL},
    {"POST", "/waitlist", sched_h_waitlist_add, PC, PHI,
     "join the waitlist for an (earlier) slot", NULL, NULL},
    {"GET", "/waitlist", sched_h_waitlist_list, PC, PHI, "waitlist entries",
     NULL, NULL},
    {"DELETE", "/waitlist/:id", sched_h_waitlist_del, PC, PHI,
     "leave the waitlist", NULL, NULL},
    {"GET", "/offers/:token", sched_h_offer_get, PC, PHI,
     "a waitlist offer", NULL, NULL},
    {"POST", "/offers/:token/accept", sched_h_offer_accept, PC, PHI,
     "accept a waitlist offer; 409 when someone was faster", NULL,
     APPT_SCHEMA},
    {"GET", "/reminders/:token", sched_h_reminder_get, 0, LINK,
     "what a reminder link is about (single-use token)", NULL, NULL},
    {"POST", "/reminders/:token/confirm", sched_h_reminder_confirm, 0, LINK,
     "confirm a visit from a reminder (single-use token)", NULL, NULL},
    {"POST", "/reminders/:token/cancel", sched_h_reminder_cancel, 0, LINK,
     "cancel a visit from a reminder (single-use token)", NULL, NULL},
    {"GET", "/metrics", sched_h_metrics, CARE | ATR_ROLE_ADMIN, 0,
     "no-show rate, self-booked share, fill rate, waitlist offers", NULL,
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static int refuse(char **errmsg, const char *msg)
{
	*errmsg = strdup(msg);
	return ATR_EINVAL;
}

/* Reads and checks [plugin.scheduling]. */
static int load_config(struct atr_ctx *ctx, char **errmsg)
{
	struct sched_config *c = &sched_cfg;
	long long slot = sched_api->config_int(ctx, "slot_minutes");

	c->cutoff_hours = (long)sched_api->config_int(ctx, "cutoff_hours");
	c->leads_text = sched_api->config_str(ctx, "reminder_leads");
	c->nleads = sched_parse_leads(c->leads_text, c->leads);
	c->offer_ttl_s = (long)sched_api->config_int(ctx, "offer_ttl_minutes") *
			 60;
	c->location = sched_api->config_str(ctx, "default_location");
	c->max_days = (int)sched_api->config_int(ctx, "max_days_ahead");
	c->offer_batch = (int)sched_api->config_int(ctx, "offer_batch");
	if (c->cutoff_hours < 0 || c->cutoff_hours > 720)
		return refuse(errmsg, "cutoff_hours must be 0 to 720");
	if (c->nleads <= 0)
		return refuse(errmsg, "reminder_leads must be a list like "
				      "72h,24h,2h (at most 8, each 1m to 60d)");
	if (c->offer_ttl_s < 60 || c->offer_ttl_s > 7L * 86400)
		return refuse(errmsg,
			      "offer_ttl_minutes must be 1 to 10080");
	if (slot < 5 || slot > 240 || slot % 5)
		return refuse(errmsg, "slot_minutes must be a multiple of 5 "
				      "from 5 to 240");
	c->step_s = (int)slot * 60;
	if (!c->location || !*c->location)
		return refuse(errmsg, "default_location must not be empty");
	if (c->max_days < 1 || c->max_days > 730)
		return refuse(errmsg, "max_days_ahead must be 1 to 730");
	if (c->offer_batch < 1 || c->offer_batch > 50)
		return refuse(errmsg, "offer_batch must be 1 to 50");
	if (sched_api->config_int(ctx, "offer_check_seconds") < 1 ||
	    sched_api->config_int(ctx, "offer_check_seconds") > 3600)
		return refuse(errmsg, "offer_check_seconds must be 1 to 3600");
	return ATR_OK;
}

static json_t *ui_pages(void)
{
	return json_pack(
	    "[{s:s,s:s,s:s,s:[s]},{s:s,s:s,s:s,s:[s]},"
	    "{s:s,s:s,s:s,s:[s,s]},{s:s,s:s,s:s,s:[s,s,s]},"
	    "{s:s,s:s,s:s,s:[s,s,s],s:b},{s:s,s:s,s:s,s:[s,s,s],s:b}]",
	    "id", "book", "title", "Book a visit", "module", "book.js", "roles",
	    "patient", "id", "appointments", "title", "My appointments",
	    "module", "appointments.js", "roles", "patient", "id", "schedule",
	    "title", "Schedule", "module", "schedule.js", "roles", "staff",
	    "physician", "id", "metrics", "title", "Schedule metrics", "module",
	    "metrics.js", "roles", "staff", "physician", "admin", "id",
	    "reminder", "title", "Your appointment", "module", "reminder.js",
	    "roles", "patient", "staff", "physician", "nav", 0, "id", "offer",
	    "title", "A slot for you", "module", "offer.js", "roles",
	    "patient", "staff", "physician", "nav", 0);
}

static int sched_init(struct atr_ctx *ctx, const struct atr_api *host,
		      char **errmsg)
{
	json_t *pages;
	int rc;

	if (host->abi_major != ATR_ABI_MAJOR)
		return refuse(errmsg, "host speaks another plugin abi");
	if (!ATR_API_HAS(host, sql_each_cols) ||
	    !ATR_API_HAS(host, respond_text))
		return refuse(errmsg, "host lacks plugin abi 1.1");
	sched_api = host;
	rc = load_config(ctx, errmsg);
	if (rc != ATR_OK)
		return rc;
	pages = ui_pages();
	rc = sched_api->register_ui(ctx, "scheduling/ui", pages);
	json_decref(pages);
	if (rc == ATR_OK)
		rc = sched_api->register_job(
		    ctx, "waitlist_offers",
		    (unsigned)sched_api->config_int(ctx,
						    "offer_check_seconds"),
		    sched_offer_job);
	if (rc == ATR_OK)
		rc = sched_api->register_demo(ctx, sched_demo);
	if (rc == ATR_OK)
		rc = sched_api->register_lookup(ctx, "patient_summary",
						sched_lookup_patient);
	if (rc != ATR_OK)
		return refuse(errmsg, "registration with the host failed");
	return ATR_OK;
}

ATR_PLUGIN_EXPORT(scheduling_plugin) = {
    ATR_PLUGIN_HEADER,
    .name = "scheduling",
    .version = "1.0.0",
    .description = "appointments: self-booking, approvals, waitlist, "
		   "reminders, no-shows",
    .requires = NULL,
    .config = sched_config_keys,
    .migrations = sched_migrations,
    .routes = sched_routes,
    .events = sched_events,
    .init = sched_init,
    .fini = NULL,
};
