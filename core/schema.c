/*
 * schema.c - core tables: accounts, sessions, onboarding codes, TOTP
 * recovery codes, the append-only audit log and the notification outbox.
 * Times the core compares are integer UTC epoch seconds; times shown to
 * people are ISO-8601 text.
 */
#include "schema.h"

#include <stddef.h>

#define NOW_ISO "(strftime('%Y-%m-%dT%H:%M:%SZ','now'))"

const struct atr_migration core_migrations[] = {
    {1,
     "CREATE TABLE users ("
     " id INTEGER PRIMARY KEY,"
     " username TEXT UNIQUE COLLATE NOCASE," /* NULL until activated */
     " display_name TEXT NOT NULL,"
     " role TEXT NOT NULL CHECK (role IN"
     "  ('patient','staff','physician','admin')),"
     " password_hash TEXT,"
     " email TEXT,"
     " email_verified INTEGER NOT NULL DEFAULT 0,"
     " date_of_birth TEXT,"
     " totp_secret TEXT,"
     " totp_enabled INTEGER NOT NULL DEFAULT 0,"
     " totp_last_step INTEGER NOT NULL DEFAULT 0,"
     " locked INTEGER NOT NULL DEFAULT 0,"
     " failed_logins INTEGER NOT NULL DEFAULT 0,"
     " throttled_until INTEGER NOT NULL DEFAULT 0,"
     " created_at TEXT NOT NULL DEFAULT " NOW_ISO ","
     " updated_at TEXT NOT NULL DEFAULT " NOW_ISO ");"
     "CREATE INDEX users_role ON users(role, display_name);"

     "CREATE TABLE sessions ("
     " id INTEGER PRIMARY KEY,"
     " token_hash TEXT NOT NULL UNIQUE,"
     " csrf_hash TEXT NOT NULL,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " created_at INTEGER NOT NULL,"
     " last_seen_at INTEGER NOT NULL,"
     " expires_at INTEGER NOT NULL,"
     " client TEXT,"
     " user_agent TEXT,"
     " revoked INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX sessions_user ON sessions(user_id, revoked);"

     "CREATE TABLE activation_codes ("
     " id INTEGER PRIMARY KEY,"
     " code_hash TEXT NOT NULL UNIQUE,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " created_by INTEGER REFERENCES users(id),"
     " expires_at INTEGER NOT NULL,"
     " used_at INTEGER);"

     "CREATE TABLE recovery_codes ("
     " id INTEGER PRIMARY KEY,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " code_hash TEXT NOT NULL,"
     " used_at INTEGER,"
     " UNIQUE (user_id, code_hash));"

     "CREATE TABLE audit_log ("
     " id INTEGER PRIMARY KEY,"
     " at TEXT NOT NULL,"
     " user_id INTEGER,"
     " username TEXT,"
     " role TEXT,"
     " action TEXT NOT NULL,"
     " patient_id INTEGER,"
     " object_type TEXT,"
     " object_id TEXT,"
     " client TEXT,"
     " outcome TEXT NOT NULL,"
     " prev_hash TEXT NOT NULL,"
     " hash TEXT NOT NULL);"
     "CREATE INDEX audit_patient ON audit_log(patient_id, at);"
     "CREATE INDEX audit_user ON audit_log(user_id, at);"
     "CREATE INDEX audit_at ON audit_log(at);"
     "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
     "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"

     "CREATE TABLE outbox ("
     " id INTEGER PRIMARY KEY,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " kind TEXT NOT NULL,"
     " ref TEXT,"
     " data TEXT NOT NULL DEFAULT '{}',"
     " source TEXT NOT NULL,"
     " status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN"
     "  ('queued','sending','sent','failed','cancelled','suppressed')),"
     " not_before INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " idempotency_key TEXT NOT NULL UNIQUE,"
     " read_at INTEGER);"
     "CREATE INDEX outbox_due ON outbox(status, not_before);"
     "CREATE INDEX outbox_ref ON outbox(ref, status);"
     "CREATE INDEX outbox_user ON outbox(user_id, created_at);"},
    {2,
     /* Failed attempts per key ("user:<lowercased name>", also for names
      * with no account; "reauth:<id>"; "activate:<client>", ...).
      * throttled_until here and in login_devices is epoch milliseconds;
      * last_failure_at and the other times are epoch seconds. */
     "CREATE TABLE login_throttle ("
     " key TEXT PRIMARY KEY,"
     " failures INTEGER NOT NULL DEFAULT 0,"
     " throttled_until INTEGER NOT NULL DEFAULT 0,"
     " last_failure_at INTEGER NOT NULL);"
     "CREATE INDEX login_throttle_age ON login_throttle(last_failure_at);"

     /* Browsers that signed in before: their attempts are throttled on
      * their own, so a stranger's failures cannot lock the owner out. */
     "CREATE TABLE login_devices ("
     " id INTEGER PRIMARY KEY,"
     " token_hash TEXT NOT NULL UNIQUE,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " failures INTEGER NOT NULL DEFAULT 0,"
     " throttled_until INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL,"
     " last_used_at INTEGER NOT NULL);"
     "CREATE INDEX login_devices_user ON login_devices(user_id);"

     /* TOTP enrolment in progress: the secret is only moved to
      * totp_secret when a code from it is confirmed. */
     "ALTER TABLE users ADD COLUMN totp_pending TEXT;"
     "ALTER TABLE users ADD COLUMN totp_pending_at INTEGER;"
     "CREATE INDEX activation_codes_user ON activation_codes(user_id);"},
    {3, /* notifications: deliveries per channel, preferences, email
         * confirmation (core/notify*.c, docs/notifications.md) */
     "ALTER TABLE outbox ADD COLUMN fanout_at INTEGER;"
     "CREATE TABLE notify_deliveries ("
     " id INTEGER PRIMARY KEY,"
     " outbox_id INTEGER REFERENCES outbox(id)," /* NULL: email confirmation */
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " kind TEXT NOT NULL,"
     " channel TEXT NOT NULL CHECK (channel IN ('portal','email','webhook')),"
     " status TEXT NOT NULL CHECK (status IN ('pending','deferred','sending',"
     "  'sent','failed','cancelled','suppressed')),"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt_at INTEGER NOT NULL,"
     " lease_until INTEGER,"
     " last_error TEXT,"
     " idempotency_key TEXT NOT NULL UNIQUE,"
     " address TEXT,"
     " prepared INTEGER NOT NULL DEFAULT 0,"
     " title TEXT,"
     " body TEXT,"
     " link TEXT,"
     " link_token_hash TEXT UNIQUE,"
     " link_used_at INTEGER,"
     " created_at INTEGER NOT NULL,"
     " sent_at INTEGER,"
     " UNIQUE (outbox_id, channel));"
     "CREATE INDEX notify_deliveries_due ON notify_deliveries(status,"
     " next_attempt_at);"
     "CREATE INDEX notify_deliveries_user ON notify_deliveries(user_id,"
     " channel, status, sent_at);"
     "CREATE INDEX outbox_fanout ON outbox(status, fanout_at, not_before);"
     "CREATE TABLE notify_preferences ("
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " kind TEXT NOT NULL,"
     " channels TEXT NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " PRIMARY KEY (user_id, kind));"
     "CREATE TABLE notify_email_tokens ("
     " id INTEGER PRIMARY KEY,"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " address TEXT NOT NULL,"
     " token_hash TEXT NOT NULL UNIQUE,"
     " created_at INTEGER NOT NULL,"
     " expires_at INTEGER NOT NULL,"
     " used_at INTEGER);"
     "CREATE INDEX notify_email_tokens_user ON notify_email_tokens(user_id,"
     " created_at);"},
    {4, /* keys the core keeps across restarts (the CSRF key) */
     "CREATE TABLE core_secrets ("
     " name TEXT PRIMARY KEY,"
     " value TEXT NOT NULL);"},
    {5, /* closing an outbox row looks up its deliveries by status; without
         * this the (status, next_attempt_at) index made each lookup scan
         * every delivery ever sent */
     "CREATE INDEX notify_deliveries_outbox ON notify_deliveries(outbox_id,"
     " status);"},
    {0, NULL},
};
