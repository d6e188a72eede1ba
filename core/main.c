/*
 * main.c - atriumd: command line, start-up order, signals and shutdown.
 *
 * Start-up: config -> time zone -> database and core migrations -> plugins
 * (checked, migrated and initialised in one transaction) -> workflow
 * scripts -> routes -> job thread -> HTTP. Signals are blocked in every
 * thread and taken synchronously here: SIGTERM/SIGINT stop gracefully,
 * SIGHUP reloads the workflow scripts.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "core_routes.h"
#include "crypto.h"
#include "db.h"
#include "demo.h"
#include "events.h"
#include "http.h"
#include "identity.h"
#include "jobs.h"
#include "log.h"
#include "notify.h"
#include "plugins.h"
#include "schema.h"
#include "static.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: atriumd [--config FILE] [command]\n"
		"  (no command)              run the portal\n"
		"  --check-config            validate the config and exit\n"
		"  --init-demo               create the demo practice in an "
		"empty database\n"
		"  --create-user NAME --role ROLE [--display-name TEXT]\n"
		"                            create an account; password on "
		"stdin\n"
		"  --list-plugins            list plugins found and their state\n"
		"  --check-workflows DIR     validate workflow scripts\n"
		"  --list-events             events scripts can handle (JSON)\n"
		"  --verify-audit            check the audit log's hash chain\n"
		"  --version, --help\n"
		"The config file is FILE, else $ATRIUM_CONFIG, else "
		"config/atrium.ini.\n");
}

/* Reads one line from stdin without echo when it is a terminal. */
static int read_password(char *buf, size_t len)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO);
	char *nl;

	if (tty) {
		fprintf(stderr, "password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)len, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if ((nl = strchr(buf, '\n')))
		*nl = '\0';
	if ((nl = strchr(buf, '\r')))
		*nl = '\0';
	return buf[0] ? 0 : -1;
}

static int open_db(const struct config *cfg, struct db **db)
{
	char err[512];
	db_setup(cfg->db_path, cfg->busy_timeout_ms);
	*db = db_thread();
	if (!*db) {
		fprintf(stderr, "atriumd: database %s cannot be opened\n",
			cfg->db_path);
		return -1;
	}
	if (db_migrate(*db, "core", core_migrations, err, sizeof(err))) {
		fprintf(stderr, "atriumd: database %s: %s\n", cfg->db_path,
			err);
		return -1;
	}
	return 0;
}

static int start_plugins(const struct config *cfg, struct db *db)
{
	char err[1024];
	g_router = router_new();
	if (!g_router)
		return -1;
	if (core_routes_register(g_router, err, sizeof(err))) {
		fprintf(stderr, "atriumd: %s\n", err);
		return -1;
	}
	if (plugins_start(cfg, g_router, db, err, sizeof(err))) {
		fprintf(stderr, "atriumd: %s\n", err);
		return -1;
	}
	return 0;
}

static int set_timezone(const char *tz)
{
	char path[512];
	if (strcmp(tz, "UTC")) {
		snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
		if (strstr(tz, "..") || access(path, R_OK)) {
			fprintf(stderr,
				"atriumd: [practice] timezone '%s' is not a "
				"known time zone\n",
				tz);
			return -1;
		}
	}
	setenv("TZ", tz, 1);
	tzset();
	return 0;
}

static int serve(struct config *cfg, struct db *db)
{
	sigset_t set;
	char err[4096];
	int sig, rc = 0;

	if (events_start(cfg, err, sizeof(err))) {
		fprintf(stderr, "atriumd: workflow scripts refused:\n%s\n", err);
		return 1;
	}
	if (static_set_theme(cfg->themes_dir, cfg->theme))
		return 1;
	if (notify_start(cfg) || jobs_start()) {
		fprintf(stderr, "atriumd: cannot start background threads\n");
		return 1;
	}
	(void)db;
	if (http_start(cfg)) {
		jobs_stop();
		notify_stop();
		return 1;
	}
	printf("atriumd %s listening on %s://%s:%d\n", ATRIUM_VERSION,
	       *cfg->tls_cert ? "https" : "http", cfg->address, http_port());
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			events_reload(err, sizeof(err));
			continue;
		}
		log_msg(LOG_INFO, "signal %d: shutting down", sig);
		break;
	}
	http_stop(cfg->shutdown_grace);
	jobs_stop();
	notify_stop();
	return rc;
}

/* glibc gives memory back to the kernel whenever 128 KiB lie free at the
 * top of a heap. Every commit by another connection empties a SQLite
 * connection's page cache (its pages are freed at once and read again), so
 * under a stream of writes each worker's heap was trimmed with madvise(2)
 * (a TLB shootdown across cores) and faulted back in, several times per
 * request: a third of a booking's CPU time. Up to 32 MiB free is kept
 * instead; blocks of 1 MiB or more are still mapped on their own, and an
 * idle daemon's size is unchanged (nothing has been freed yet). */
static void tune_malloc(void)
{
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

int main(int argc, char **argv)
{
	const char *cfg_path = getenv("ATRIUM_CONFIG");
	const char *cmd = NULL, *cmd_arg = NULL, *role = NULL,
		   *display = NULL;
	static struct config cfg;
	struct db *db = NULL;
	char err[1024];
	sigset_t set;
	int rc = 1;

	tune_malloc();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--config") && i + 1 < argc)
			cfg_path = argv[++i];
		else if (!strcmp(a, "--role") && i + 1 < argc)
			role = argv[++i];
		else if (!strcmp(a, "--display-name") && i + 1 < argc)
			display = argv[++i];
		else if ((!strcmp(a, "--create-user") ||
			  !strcmp(a, "--check-workflows")) &&
			 i + 1 < argc && !cmd) {
			cmd = a;
			cmd_arg = argv[++i];
		} else if ((!strcmp(a, "--check-config") ||
			    !strcmp(a, "--init-demo") ||
			    !strcmp(a, "--list-plugins") ||
			    !strcmp(a, "--list-events") ||
			    !strcmp(a, "--verify-audit")) &&
			   !cmd)
			cmd = a;
		else if (!strcmp(a, "--version")) {
			printf("atriumd %s (plugin abi %d.%d)\n",
			       ATRIUM_VERSION, ATR_ABI_MAJOR, ATR_ABI_MINOR);
			return 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "atriumd: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!cfg_path)
		cfg_path = "config/atrium.ini";
	if (config_load(&cfg, cfg_path, err, sizeof(err))) {
		fprintf(stderr, "atriumd: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	g_cfg = &cfg;
	if (set_timezone(cfg.timezone))
		goto out;
	if (crypto_init()) {
		fprintf(stderr, "atriumd: cannot initialise libsodium\n");
		goto out;
	}
	crypto_set_pw_params((unsigned long long)cfg.pw_ops,
			     (size_t)cfg.pw_mem_kib * 1024);
	/* Every thread created from here on inherits this mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cmd && !strcmp(cmd, "--list-plugins")) {
		plugins_list(&cfg, stdout);
		rc = 0;
		goto out;
	}
	if (cmd && (!strcmp(cmd, "--check-workflows") ||
		    !strcmp(cmd, "--list-events"))) {
		/* Plugins are started against a private in-memory database so
		 * their events are known; nothing on disk is touched. */
		static char errs[8192];
		free(cfg.db_path);
		cfg.db_path = strdup(":memory:");
		if (open_db(&cfg, &db) || start_plugins(&cfg, db))
			goto out;
		if (!strcmp(cmd, "--list-events")) {
			json_t *cat = events_catalog();
			json_dumpf(cat, stdout, JSON_INDENT(2));
			putchar('\n');
			json_decref(cat);
			rc = 0;
			goto out;
		}
		if (events_check_dir(cmd_arg, errs, sizeof(errs))) {
			fprintf(stderr, "%s", errs);
			if (errs[0] && errs[strlen(errs) - 1] != '\n')
				fputc('\n', stderr);
			goto out;
		}
		printf("%s: workflow scripts ok\n", cmd_arg);
		rc = 0;
		goto out;
	}
	if (open_db(&cfg, &db))
		goto out;
	if (cmd && !strcmp(cmd, "--verify-audit")) {
		long long bad = audit_verify(db, err, sizeof(err));
		printf("%s\n", err);
		rc = bad ? 1 : 0;
		goto out;
	}
	if (cmd && !strcmp(cmd, "--create-user")) {
		char pw[512];
		const char *why = NULL;
		long long id;
		if (!role) {
			fprintf(stderr, "atriumd: --create-user needs --role "
					"patient|staff|physician|admin\n");
			goto out;
		}
		if (read_password(pw, sizeof(pw))) {
			fprintf(stderr, "atriumd: no password on standard "
					"input\n");
			goto out;
		}
		id = identity_create_user(db, cmd_arg,
					  display ? display : cmd_arg, role, pw,
					  &why);
		sodium_memzero(pw, sizeof(pw));
		if (id <= 0) {
			fprintf(stderr, "atriumd: cannot create '%s': %s\n",
				cmd_arg, why ? why : "database error");
			goto out;
		}
		printf("created %s '%s' (id %lld)\n", role, cmd_arg, id);
		rc = 0;
		goto out;
	}
	if (auth_init(db)) {
		fprintf(stderr, "atriumd: cannot set up session keys\n");
		goto out;
	}
	if (start_plugins(&cfg, db))
		goto out;
	if (cmd && !strcmp(cmd, "--check-config")) {
		printf("%s: ok\n", cfg_path);
		rc = 0;
		goto out;
	}
	if (cmd && !strcmp(cmd, "--init-demo")) {
		rc = demo_init(db) ? 1 : 0;
		goto out;
	}
	rc = serve(&cfg, db);
out:
	events_stop();
	plugins_stop();
	static_free();
	router_free(g_router);
	g_router = NULL;
	db_shutdown();
	g_cfg = NULL;
	config_free(&cfg);
	return rc;
}
