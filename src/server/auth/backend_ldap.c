/*
 * The LDAP backend (auth-backend ldap), through OpenLDAP's libldap.
 *
 * A login is two operations: find the user's entry with ldap-filter under
 * ldap-base (bound as ldap-bind-dn, or anonymously), the user name escaped
 * per RFC 4515 where the filter says %u, then a simple bind as that
 * entry's DN with the password; only a bind that the directory answers
 * with success is a login.  An empty password never reaches the directory:
 * RFC 4513 5.1.2 makes it an unauthenticated bind, which succeeds.
 *
 * The operations are synchronous libldap calls on a pool of LDAP_THREADS
 * threads of this backend's own, each with its own connection, kept open
 * between logins (a pool of connections); the event loop never waits for
 * the directory.  Every call is bounded by backend-timeout.  A connection
 * the directory closed is opened again once; a directory that cannot be
 * reached makes every login a temporary failure (reason=backend-down: 454),
 * logged once per outage.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "common/log.h"
#include "common/workq.h"
#include "server/auth/backend.h"
#include "server/shared/metrics.h"

#define LDAP_THREADS	4
#define FILTER_MAX	4096

struct ljob {
	char			 user[AUTH_FIELD_MAX + 1];
	size_t			 userlen;
	char			 pass[AUTH_FIELD_MAX + 1];	/* wipe it */
	size_t			 passlen;
	int			 lookup;	/* a recipient: no bind */
	enum auth_result	 result;
	const char		*reason;
	int			 down;		/* the directory is out */
	int			 rc;		/* the last LDAP error */
	char			 err[128];	/* for the outage's log line */
	backend_done		 done;
	void			*arg;
};

/* A pool thread's connection. */
struct lconn {
	LDAP	*ld;
	int	 as_user;	/* bound as a user: bind for the search again */
};

static struct {
	const struct config	*conf;
	struct workq		*wq;
	char			*bindpw;
	int			 down_logged;	/* on the loop */
} L;

/*
 * One connection a pool thread, kept here (not in thread-local storage)
 * so that the stop can close them once the threads are gone.
 */
static struct lconn		 conns[LDAP_THREADS];
static unsigned			 nconns;
static pthread_mutex_t		 conns_mtx = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct lconn *tconn;

static void	ldap_init_be(struct backend_env *);
static int	ldap_verify(const struct backend_query *, backend_done, void *,
		    const char **);
static int	ldap_lookup(const char *, size_t, backend_done, void *,
		    const char **);
static int	lj_submit(struct ljob *, const char **);
static void	ldap_stop(void);
static void	lj_work(void *);
static void	lj_done(void *);
static int	lj_try(struct ljob *, struct lconn *);
static int	lc_open(struct lconn *, struct ljob *);
static int	lc_bind_search(struct lconn *, struct ljob *);
static void	lc_close(struct lconn *);
static struct lconn *lc_mine(void);
static int	is_down(int);
static char	*make_filter(const char *, const char *, size_t);

const struct backend_ops backend_ldap = {
	.name = "ldap",
	.init = ldap_init_be,
	.verify = ldap_verify,
	.lookup = ldap_lookup,
	.folds_case = 0,
	.stop = ldap_stop,
};

static void
ldap_init_be(struct backend_env *env)
{
	LDAPURLDesc	*lud;
	int		 v;

	memset(&L, 0, sizeof(L));
	L.conf = env->conf;
	L.bindpw = env->bindpw;
	env->bindpw = NULL;
	if (ldap_url_parse(L.conf->ldap_uri, &lud) != LDAP_URL_SUCCESS)
		fatalx("ldap-uri %s: not an LDAP URL", L.conf->ldap_uri);
	ldap_free_urldesc(lud);
	/* Global options, set before any connection: every one inherits. */
	v = LDAP_OPT_X_TLS_DEMAND;
	if (ldap_set_option(NULL, LDAP_OPT_X_TLS_REQUIRE_CERT, &v) !=
	    LDAP_OPT_SUCCESS)
		fatalx("ldap: cannot require certificates");
	if (L.conf->ldap_ca_file != NULL && ldap_set_option(NULL,
	    LDAP_OPT_X_TLS_CACERTFILE, L.conf->ldap_ca_file) !=
	    LDAP_OPT_SUCCESS)
		fatalx("ldap-ca-file %s: refused", L.conf->ldap_ca_file);
	v = LDAP_VERSION3;
	(void)ldap_set_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
	(void)ldap_set_option(NULL, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if ((L.wq = workq_new(env->base, LDAP_THREADS)) == NULL)
		fatalx("workq_new");
	log_info("ldap %s base=\"%s\" threads=%d", L.conf->ldap_uri,
	    L.conf->ldap_base, LDAP_THREADS);
}

static int
ldap_verify(const struct backend_query *q, backend_done done, void *arg,
    const char **reason)
{
	struct ljob	*j;

	if (q->userlen >= sizeof(j->user) || q->passlen >= sizeof(j->pass)) {
		*reason = "bad-request";
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		*reason = "out-of-memory";
		return -1;
	}
	memcpy(j->user, q->user, q->userlen);
	j->userlen = q->userlen;
	memcpy(j->pass, q->pass, q->passlen);
	j->passlen = q->passlen;
	j->done = done;
	j->arg = arg;
	return lj_submit(j, reason);
}

/*
 * A recipient of local-domains: the entry searched as for a login, with
 * ldap-recipient-filter (else ldap-filter) and the address for %u; found
 * is an account.  Never a bind as the entry.
 */
static int
ldap_lookup(const char *addr, size_t len, backend_done done, void *arg,
    const char **reason)
{
	struct ljob	*j;

	if (len >= sizeof(j->user)) {
		*reason = "bad-request";
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		*reason = "out-of-memory";
		return -1;
	}
	memcpy(j->user, addr, len);
	j->userlen = len;
	j->lookup = 1;
	j->done = done;
	j->arg = arg;
	return lj_submit(j, reason);
}

static int
lj_submit(struct ljob *j, const char **reason)
{
	if (workq_submit(L.wq, lj_work, lj_done, j) == -1) {
		explicit_bzero(j, sizeof(*j));
		free(j);
		*reason = "busy";
		return -1;
	}
	return 0;
}

/* On a pool thread. */
static void
lj_work(void *arg)
{
	struct ljob	*j = arg;
	struct lconn	*c;
	int		 reused;

	j->result = AUTH_TEMPFAIL;
	j->reason = "backend-down";
	if (j->passlen == 0 && !j->lookup) {
		/* An unauthenticated bind would succeed: never send one. */
		j->result = AUTH_FAIL;
		j->reason = "empty-password";
		goto out;
	}
	if ((c = lc_mine()) == NULL) {
		j->reason = "busy";
		goto out;
	}
	reused = c->ld != NULL;
	/*
	 * A kept connection the directory closed meanwhile: once more, on
	 * a new one.  Not after a timeout: that would double the wait.
	 */
	if (lj_try(j, c) == -1 && reused && j->rc == LDAP_SERVER_DOWN) {
		j->down = 0;
		j->err[0] = '\0';
		(void)lj_try(j, c);
	}
out:
	explicit_bzero(j->pass, sizeof(j->pass));
	j->passlen = 0;
}

/*
 * Search, then bind as the entry.  Sets j->result and j->reason; -1 when
 * the connection failed (closed: it may be tried again), else 0.
 */
static int
lj_try(struct ljob *j, struct lconn *c)
{
	struct timeval	 tv = { (time_t)L.conf->backend_timeout, 0 };
	char		*attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage	*res = NULL, *e;
	struct berval	 cred;
	char		*filter = NULL, *dn = NULL;
	int		 rc, n;

	if (c->ld == NULL && lc_open(c, j) == -1)
		return -1;
	if (c->as_user && lc_bind_search(c, j) == -1)
		return -1;
	if ((filter = make_filter(j->lookup &&
	    L.conf->ldap_recipient_filter != NULL ?
	    L.conf->ldap_recipient_filter : L.conf->ldap_filter, j->user,
	    j->userlen)) == NULL) {
		j->result = AUTH_TEMPFAIL;
		j->reason = "bad-filter";
		return 0;
	}
	rc = ldap_search_ext_s(c->ld, L.conf->ldap_base, LDAP_SCOPE_SUBTREE,
	    filter, attrs, 1, NULL, NULL, &tv, 2, &res);
	free(filter);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(res);
		/* Several entries have the address: it is someone's. */
		j->result = j->lookup ? AUTH_OK : AUTH_FAIL;
		j->reason = j->lookup ? NULL : "ambiguous-user";
		return 0;
	}
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		j->rc = rc;
		snprintf(j->err, sizeof(j->err), "search: %s",
		    ldap_err2string(rc));
		if (is_down(rc)) {
			j->down = 1;
			lc_close(c);
			return -1;
		}
		j->reason = "backend-error";
		return 0;
	}
	n = ldap_count_entries(c->ld, res);
	if (j->lookup) {
		ldap_msgfree(res);
		j->result = n > 0 ? AUTH_OK : AUTH_FAIL;
		j->reason = n > 0 ? NULL : "unknown-user";
		return 0;
	}
	if (n != 1) {
		ldap_msgfree(res);
		j->result = AUTH_FAIL;
		j->reason = n == 0 ? "unknown-user" : "ambiguous-user";
		return 0;
	}
	e = ldap_first_entry(c->ld, res);
	dn = e != NULL ? ldap_get_dn(c->ld, e) : NULL;
	ldap_msgfree(res);
	if (dn == NULL || dn[0] == '\0') {
		ldap_memfree(dn);
		j->reason = "backend-error";
		return 0;
	}
	cred.bv_val = j->pass;
	cred.bv_len = j->passlen;
	c->as_user = 1;
	rc = ldap_sasl_bind_s(c->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    NULL);
	ldap_memfree(dn);
	switch (rc) {
	case LDAP_SUCCESS:
		j->result = AUTH_OK;
		j->reason = NULL;
		return 0;
	case LDAP_INVALID_CREDENTIALS:
		j->result = AUTH_FAIL;
		j->reason = "bad-password";
		return 0;
	default:
		j->rc = rc;
		snprintf(j->err, sizeof(j->err), "bind: %s",
		    ldap_err2string(rc));
		if (is_down(rc)) {
			j->down = 1;
			lc_close(c);
			return -1;
		}
		/* Unwilling, inappropriate, locked: no login, the same 535. */
		j->result = AUTH_FAIL;
		j->reason = "bind-refused";
		return 0;
	}
}

static int
lc_open(struct lconn *c, struct ljob *j)
{
	struct timeval	tv = { (time_t)L.conf->backend_timeout, 0 };
	int		rc;

	if ((rc = ldap_initialize(&c->ld, L.conf->ldap_uri)) != LDAP_SUCCESS) {
		snprintf(j->err, sizeof(j->err), "%s", ldap_err2string(rc));
		c->ld = NULL;
		j->down = 1;
		return -1;
	}
	(void)ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	(void)ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
	if (L.conf->ldap_starttls &&
	    (rc = ldap_start_tls_s(c->ld, NULL, NULL)) != LDAP_SUCCESS) {
		snprintf(j->err, sizeof(j->err), "StartTLS: %s",
		    ldap_err2string(rc));
		lc_close(c);
		j->down = 1;
		return -1;
	}
	c->as_user = 1;		/* not bound for the search yet */
	return lc_bind_search(c, j);
}

/* Bind for the search: as ldap-bind-dn, or anonymously without one. */
static int
lc_bind_search(struct lconn *c, struct ljob *j)
{
	struct berval	cred = { 0, NULL };
	int		rc;

	if (L.bindpw != NULL) {
		cred.bv_val = L.bindpw;
		cred.bv_len = strlen(L.bindpw);
	}
	rc = ldap_sasl_bind_s(c->ld, L.conf->ldap_bind_dn, LDAP_SASL_SIMPLE,
	    &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		j->rc = rc;
		snprintf(j->err, sizeof(j->err), "bind as %s: %s",
		    L.conf->ldap_bind_dn ? L.conf->ldap_bind_dn : "anonymous",
		    ldap_err2string(rc));
		lc_close(c);
		j->down = 1;
		return -1;
	}
	c->as_user = 0;
	return 0;
}

/* The calling pool thread's connection slot. */
static struct lconn *
lc_mine(void)
{
	if (tconn != NULL)
		return tconn;
	pthread_mutex_lock(&conns_mtx);
	if (nconns < LDAP_THREADS)
		tconn = &conns[nconns++];
	pthread_mutex_unlock(&conns_mtx);
	return tconn;
}

static void
lc_close(struct lconn *c)
{
	if (c->ld != NULL)
		ldap_unbind_ext_s(c->ld, NULL, NULL);
	c->ld = NULL;
	c->as_user = 0;
}

/* Errors that say the directory cannot be reached or cannot serve now. */
static int
is_down(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
	    rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY ||
	    rc == LDAP_LOCAL_ERROR || rc == LDAP_TIMELIMIT_EXCEEDED;
}

/*
 * The filter with each %u replaced by the user name (or the recipient's
 * address), %n by its local part and %d by its domain (the part after
 * the last "@"; without one, %n is the name and %d empty), each escaped
 * per RFC 4515 (ldap_bv2escaped_filter_value: * ( ) \\ NUL and every
 * non-ASCII octet become \\XX), so no name can change the filter's
 * structure.  %% is a percent sign.  From malloc, or NULL.
 */
static char *
make_filter(const char *tmpl, const char *user, size_t userlen)
{
	struct berval	 in, esc[3];
	const char	*at = NULL, *p, *v;
	char		*out = NULL, *w;
	size_t		 n, i, k;
	static const char keys[] = "und";

	for (i = userlen; i > 0; i--)
		if (user[i - 1] == '@') {
			at = user + i - 1;
			break;
		}
	memset(esc, 0, sizeof(esc));
	for (k = 0; k < 3; k++) {
		in.bv_val = (char *)(uintptr_t)user;
		in.bv_len = userlen;
		if (k == 1 && at != NULL)
			in.bv_len = (size_t)(at - user);
		else if (k == 2) {
			in.bv_val = (char *)(uintptr_t)(at ? at + 1 : "");
			in.bv_len = at ? userlen - (size_t)(at + 1 - user) : 0;
		}
		if (ldap_bv2escaped_filter_value(&in, &esc[k]) != 0)
			goto out;
	}
	/* The same walk twice: to size the filter, then to write it. */
	n = 1;
	for (p = tmpl; *p != '\0'; p++) {
		v = p[0] == '%' && p[1] != '\0' ? strchr(keys, p[1]) : NULL;
		if (v != NULL) {
			n += esc[v - keys].bv_len;
			p++;
		} else {
			n++;
			if (p[0] == '%' && p[1] == '%')
				p++;
		}
	}
	if (n > FILTER_MAX || (out = malloc(n)) == NULL)
		goto out;
	for (p = tmpl, w = out; *p != '\0'; p++) {
		v = p[0] == '%' && p[1] != '\0' ? strchr(keys, p[1]) : NULL;
		if (v != NULL) {
			if (esc[v - keys].bv_len > 0)
				memcpy(w, esc[v - keys].bv_val,
				    esc[v - keys].bv_len);
			w += esc[v - keys].bv_len;
			p++;
		} else {
			*w++ = *p;
			if (p[0] == '%' && p[1] == '%')
				p++;
		}
	}
	*w = '\0';
out:
	for (k = 0; k < 3; k++)
		ber_memfree(esc[k].bv_val);
	return out;
}

/* On the loop. */
static void
lj_done(void *arg)
{
	struct ljob	*j = arg;

	if (j->down)
		METRICS_SET(backend_up, 0);
	else if (j->result != AUTH_TEMPFAIL)
		METRICS_SET(backend_up, 1);
	if (j->down && !L.down_logged) {
		log_warnx("ldap %s: %s: logins get 454 until it answers",
		    L.conf->ldap_uri, j->err[0] ? j->err : "unreachable");
		L.down_logged = 1;
	} else if (j->result == AUTH_TEMPFAIL && !j->down && j->err[0]) {
		/* The directory answers, but not as configured. */
		log_warnx("ldap %s: %s", L.conf->ldap_uri, j->err);
	} else if (!j->down && L.down_logged && j->result != AUTH_TEMPFAIL) {
		log_info("ldap %s: answering again", L.conf->ldap_uri);
		L.down_logged = 0;
	}
	j->done(j->arg, j->result, j->reason);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void
ldap_stop(void)
{
	unsigned	i;

	/* Answers every job first, and ends the threads. */
	workq_free(L.wq);
	L.wq = NULL;
	for (i = 0; i < nconns; i++)
		lc_close(&conns[i]);
	if (L.bindpw != NULL) {
		explicit_bzero(L.bindpw, strlen(L.bindpw));
		free(L.bindpw);
		L.bindpw = NULL;
	}
}
