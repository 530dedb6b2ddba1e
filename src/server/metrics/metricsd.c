/*
 * The metrics process (metricsd.h): one page, /metrics, made from the
 * shared counters at each scrape.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/log.h"
#include "common/version.h"
#include "server/metrics/metricsd.h"
#include "server/shared/banlist.h"
#include "server/shared/metrics.h"

static const struct config	*conf;

static void	on_metrics(struct evhttp_request *, void *);
static void	on_other(struct evhttp_request *, void *);
static void	on_sigterm(int, short, void *);
static void	counter(struct evbuffer *, const char *, const char *,
		    const char *);
static void	total(struct evbuffer *, const char *, const char *,
		    unsigned long long);
static void	gauge(struct evbuffer *, const char *, const char *,
		    long long);
static void	listener_label(char *, size_t, size_t);

static void
counter(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A counter without labels: its HELP, TYPE and value. */
static void
total(struct evbuffer *b, const char *name, const char *help,
    unsigned long long v)
{
	counter(b, name, "counter", help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/* A gauge without labels. */
static void
gauge(struct evbuffer *b, const char *name, const char *help, long long v)
{
	counter(b, name, "gauge", help);
	evbuffer_add_printf(b, "%s %lld\n", name, v);
}

/* listen="127.0.0.1:25",mode="smtp"; the shared slot says "other". */
static void
listener_label(char *buf, size_t len, size_t i)
{
	if (i == METRICS_LISTENERS - 1 && conf->nlistens > METRICS_LISTENERS)
		snprintf(buf, len, "listen=\"other\",mode=\"other\"");
	else
		snprintf(buf, len, "listen=\"%s\",mode=\"%s\"",
		    conf->listens[i].text,
		    listen_mode_name(conf->listens[i].mode));
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	static const char *const results[] = { "ok", "fail", "tempfail" };
	struct metrics	*m = metrics_get();
	struct evbuffer	*b;
	char		 lab[160];
	size_t		 i, n, j;
	uint64_t	 cum;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "GET only");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	n = conf->nlistens < METRICS_LISTENERS ? conf->nlistens :
	    METRICS_LISTENERS;
	counter(b, "smtpauthd_info", "gauge", "The version running.");
	evbuffer_add_printf(b, "smtpauthd_info{version=\"%s\"} 1\n",
	    SMTPAUTH_VERSION);
	counter(b, "smtpauthd_connections_total", "counter",
	    "TCP connections accepted, by listener.");
	for (i = 0; i < n; i++) {
		listener_label(lab, sizeof(lab), i);
		evbuffer_add_printf(b, "smtpauthd_connections_total{%s} %llu\n",
		    lab, (unsigned long long)atomic_load(
		    &m->listeners[i].connections));
	}
	counter(b, "smtpauthd_sessions_total", "counter",
	    "SMTP sessions ended, by listener and whether TLS was on.");
	for (i = 0; i < n; i++)
		for (j = 0; j < 2; j++) {
			listener_label(lab, sizeof(lab), i);
			evbuffer_add_printf(b, "smtpauthd_sessions_total{%s,"
			    "tls=\"%s\"} %llu\n", lab, j ? "yes" : "no",
			    (unsigned long long)atomic_load(
			    &m->listeners[i].sessions[j]));
		}
	counter(b, "smtpauthd_sessions_open", "gauge",
	    "SMTP sessions open now, by listener.");
	for (i = 0; i < n; i++) {
		listener_label(lab, sizeof(lab), i);
		evbuffer_add_printf(b, "smtpauthd_sessions_open{%s} %lld\n",
		    lab, (long long)metrics_sessions_open((unsigned)i));
	}
	counter(b, "smtpauthd_auth_total", "counter",
	    "AUTH verdicts, by mechanism, result and backend.");
	for (i = 0; i < METRICS_MECHS; i++)
		for (j = 0; j < METRICS_RESULTS; j++)
			evbuffer_add_printf(b, "smtpauthd_auth_total{mech=\"%s\","
			    "result=\"%s\",backend=\"%s\"} %llu\n", metrics_mech_names[i],
			    results[j], auth_backend_name(conf->auth_backend),
			    (unsigned long long)atomic_load(&m->auth[i][j]));
	counter(b, "smtpauthd_backend_up", "gauge",
	    "1 while the password backend answers, 0 while it is down.");
	evbuffer_add_printf(b, "smtpauthd_backend_up{backend=\"%s\"} %d\n",
	    auth_backend_name(conf->auth_backend),
	    atomic_load(&m->backend_up) == 1);
	if (conf->guard_store.set)
		gauge(b, "smtpauthd_guard_store_up",
		    "1 while the guard store (Redis) is connected, else 0.",
		    atomic_load(&m->store_up) == 1);
	gauge(b, "smtpauthd_bans_active",
	    "Addresses (or IPv6 prefixes) banned now.",
	    (long long)banlist_active());
	total(b, "smtpauthd_bans_added_total", "Bans made since the start.",
	    atomic_load(&m->bans_added));
	total(b, "smtpauthd_messages_accepted_total",
	    "Messages accepted into the queue.", atomic_load(&m->messages));
	total(b, "smtpauthd_bytes_accepted_total",
	    "Octets of the messages accepted.", atomic_load(&m->bytes));
	gauge(b, "smtpauthd_queue_messages", "Messages in the queue.",
	    (long long)atomic_load(&m->queue_depth));
	total(b, "smtpauthd_delivered_total",
	    "Recipients delivered (locally or relayed).",
	    atomic_load(&m->delivered));
	total(b, "smtpauthd_deferred_total",
	    "Delivery attempts of a recipient that failed for now.",
	    atomic_load(&m->deferred));
	total(b, "smtpauthd_bounced_total", "Recipients that failed for good.",
	    atomic_load(&m->bounced));
	counter(b, "smtpauthd_delivery_latency_seconds", "histogram",
	    "From a message's arrival to a recipient's delivery.");
	for (i = 0, cum = 0; i <= METRICS_LAT_BUCKETS; i++) {
		cum += atomic_load(&m->lat_bucket[i]);
		if (i < METRICS_LAT_BUCKETS)
			evbuffer_add_printf(b, "smtpauthd_delivery_latency_"
			    "seconds_bucket{le=\"%g\"} %llu\n",
			    metrics_lat_bounds[i], (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "smtpauthd_delivery_latency_"
			    "seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "smtpauthd_delivery_latency_seconds_sum %.3f\n"
	    "smtpauthd_delivery_latency_seconds_count %llu\n",
	    (double)atomic_load(&m->lat_sum_ms) / 1000.0,
	    (unsigned long long)cum);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "only /metrics here");
}

static void
on_sigterm(int sig, short events, void *arg)
{
	event_base_loopexit(arg, NULL);
}

void
metricsd_main(const struct config *c, int fd)
{
	struct event_base	*base;
	struct evhttp		*http;
	struct event		*ev;

	log_setproc("metrics");
	conf = c;
	signal(SIGPIPE, SIG_IGN);
	/* Nothing in here is secret, but no one else's memory either. */
	(void)prctl(PR_SET_DUMPABLE, 0);
	if (metrics_get() == NULL)
		fatalx("no counters");
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL)
		fatalx("evhttp_new");
	/* Bounded: a scrape is a small GET. */
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(http, 10);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	if (evhttp_set_cb(http, "/metrics", on_metrics, NULL) != 0)
		fatalx("evhttp_set_cb");
	evhttp_set_gencb(http, on_other, NULL);
	if (evhttp_accept_socket(http, fd) != 0)
		fatalx("evhttp_accept_socket");
	if ((ev = evsignal_new(base, SIGTERM, on_sigterm, base)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("metrics events");
	log_info("ready listen=%s", conf->metrics_text);
	event_base_dispatch(base);
	log_info("stopped");
	exit(0);
}
