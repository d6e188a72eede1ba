/*
 * bare.c - the benchmark's baseline: a libmicrohttpd server that answers
 * every GET with a fixed JSON body of the same size as atriumd's /healthz,
 * in the configuration atriumd uses (internal thread pool, poll or epoll,
 * the same connection timeout, limits and memory limit, suspend/resume
 * allowed (as atriumd needs for sign-ins), the response queued
 * on the second handler call so keep-alive holds). Not part of atriumd: it
 * exists only so bench/run.sh can print atriumd's cost as a ratio.
 *
 * usage: bare PORT WORKERS poll|epoll    (runs until SIGTERM or SIGINT)
 * Port 0 picks a free one; the line "bare listening on
 * http://127.0.0.1:PORT ..." on standard output names it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static char body[] =
    "{\"status\":\"ok\",\"version\":\"0.1.0\",\"database\":\"ok\"}";

/* The first call only marks the connection (returning MHD_YES without a
 * response keeps keep-alive); the next one answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static int marker;
	struct MHD_Response *r;
	enum MHD_Result ret;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;

	if (!*con_cls) {
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* bodies are ignored */
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(sizeof(body) - 1, body,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	sigset_t set;
	int port, workers, sig;

	if (argc != 4 || (strcmp(argv[3], "poll") && strcmp(argv[3], "epoll"))) {
		fprintf(stderr, "usage: bare PORT WORKERS poll|epoll\n");
		return 2;
	}
	port = atoi(argv[1]);
	workers = atoi(argv[2]);
	if (port < 0 || port > 65535 || workers <= 0) {
		fprintf(stderr, "bare: bad port or worker count\n");
		return 2;
	}
	flags |= strcmp(argv[3], "epoll") ? MHD_USE_POLL : MHD_USE_EPOLL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* The same options as core/http.c with its default config. */
	d = MHD_start_daemon(
	    flags, (uint16_t)port, NULL, NULL, on_request, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)workers,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT,
	    1024u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 512u,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bare: cannot listen on port %d\n", port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("bare listening on http://127.0.0.1:%d with %d workers (%s)\n",
	       info ? (int)info->port : port, workers, argv[3]);
	fflush(stdout);
	while (sigwait(&set, &sig))
		;
	MHD_stop_daemon(d);
	return 0;
}
