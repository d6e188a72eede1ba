/*
 * demo.c - see demo.h.
 */
#include "demo.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "identity.h"
#include "plugins.h"
#include "totp.h"

static const struct {
	const char *username, *display, *role, *password;
} demo_users[] = {
    {"admin.demo", "Avery Admin", "admin", "demo-admin-Lighthouse-7"},
    {"staff.demo", "Sam Staff", "staff", "demo-staff-Harborview-4"},
    {"physician.demo", "Dr. Priya Patel", "physician",
     "demo-physician-Maple-81"},
    {"physician2.demo", "Dr. Marcus Chen", "physician",
     "demo-physician-Cedar-62"},
    {"patient.demo", "Pat Patient", "patient", "demo-patient-Sunrise-35"},
    {"patient2.demo", "Robin Rivera", "patient", "demo-patient-Orchard-19"},
};

/* Fixed so the README can list it; a demo database only. */
static const char demo_admin_totp[] = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

int demo_init(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT COUNT(*) FROM users", "");
	long long n = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	if (n < 0)
		return -1;
	if (n > 0) {
		printf("demo: the database already has accounts; nothing "
		       "changed\n");
		return 0;
	}
	printf("demo practice created. Accounts (username / password):\n");
	for (size_t i = 0; i < sizeof(demo_users) / sizeof(demo_users[0]);
	     i++) {
		const char *why = NULL;
		long long id = identity_create_user(
		    db, demo_users[i].username, demo_users[i].display,
		    demo_users[i].role, demo_users[i].password, &why);
		if (id <= 0) {
			fprintf(stderr, "demo: cannot create %s: %s\n",
				demo_users[i].username, why ? why : "error");
			return -1;
		}
		if (db_done(db_stmt(db,
				    "UPDATE users SET email = ?, "
				    "email_verified = 1 WHERE id = ?",
				    "si",
				    strcmp(demo_users[i].role, "patient")
					? NULL
					: (i == 4 ? "patient@example.test"
						  : "patient2@example.test"),
				    id)) != 0)
			return -1;
		printf("  %s / %s\n", demo_users[i].username,
		       demo_users[i].password);
	}
	if (db_done(db_stmt(db,
			    "UPDATE users SET totp_secret = ?, totp_enabled = "
			    "1 WHERE username = 'admin.demo'",
			    "s", demo_admin_totp)) != 0)
		return -1;
	printf("  admin.demo totp secret: %s\n", demo_admin_totp);
	plugins_run_demo();
	return 0;
}
