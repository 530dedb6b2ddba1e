/*
 * The password backends of the auth process: where a login is verified.
 *
 * authd.c owns everything around a verification (the guard, the failure
 * delay, the login cache, the log line); a backend only says whether the
 * password is right.  One backend runs, chosen by auth-backend:
 *
 *   file     the users file, hashed on the auth process's thread pool
 *   dovecot  Dovecot's auth-client protocol, on the event loop
 *   ldap     search the entry, bind as it; on a pool of its own threads
 *
 * Contract: verify() copies what it needs (the password included, which it
 * wipes when done) and either returns 0, and then calls done exactly once,
 * later, from the event loop (never from inside verify()), or returns -1
 * with a reason for a temporary failure and never calls done.
 */
#ifndef SMTPAUTHD_BACKEND_H
#define SMTPAUTHD_BACKEND_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "server/shared/authproto.h"
#include "server/shared/config.h"

struct event_base;
struct workq;

struct backend_query {
	const char		*account;	/* lower-cased user name */
	const char		*user;		/* as the client sent it */
	size_t			 userlen;
	const char		*pass;
	size_t			 passlen;
	const struct sockaddr	*client;	/* after PROXY */
	const struct sockaddr	*local;		/* NULL: not known */
	int			 tls;
};

/*
 * result: AUTH_OK, AUTH_FAIL or AUTH_TEMPFAIL; reason (a static string
 * for the log line: "bad-password", "backend-down", ...) or NULL on OK.
 */
typedef void	(*backend_done)(void *arg, enum auth_result result,
		    const char *reason);

/*
 * A SASL exchange of a mechanism other than PLAIN and LOGIN, run by the
 * backend step by step.  Contract: sasl_start() copies what it needs and
 * returns 0 with a handle, then calls done once per step, later, from the
 * loop; after an AUTH_CONTINUE (a challenge in data) the caller either
 * gives the client's answer to sasl_step() (done is called again) or ends
 * the exchange with sasl_abort() (done is never called again; abort is
 * allowed while a step is pending too).  After any other result the
 * handle is gone.  AUTH_OK may carry final data (the mechanism's last
 * message, such as SCRAM's server signature) for the client.
 */
struct backend_sasl_query {
	const char		*mech;		/* upper case, offered */
	const struct sockaddr	*client;
	const struct sockaddr	*local;		/* NULL: not known */
	int			 tls;
	int			 has_data;	/* an initial response */
	const uint8_t		*data;
	size_t			 datalen;
	const uint8_t		*cb;		/* tls-exporter, or NULL */
	size_t			 cblen;
};

struct backend_step {
	enum auth_result	 result;	/* or AUTH_CONTINUE */
	const char		*reason;	/* as for backend_done */
	const uint8_t		*data;		/* challenge, final data */
	size_t			 datalen;
	const char		*user;		/* the name logged in or */
	size_t			 userlen;	/* tried, or NULL */
};

typedef void	(*backend_step_done)(void *arg, const struct backend_step *);

/* What the start of the auth process hands a backend. */
struct backend_env {
	const struct config	*conf;
	struct event_base	*base;
	struct workq		*wq;		/* the hashing pool */
	char			*users_text;	/* the backend wipes and frees */
	size_t			 users_len;
	char			*bindpw;	/* ldap; wiped and freed */
	/* The backend's mechanisms changed: call mechs() again. */
	void			(*mechs_changed)(void);
};

struct backend_ops {
	const char	*name;
	/*
	 * Set up; exits with fatalx() on a broken configuration.  A remote
	 * store that cannot be reached yet is not an error: it is tried
	 * again in the background and logged once.
	 */
	void		(*init)(struct backend_env *);
	int		(*verify)(const struct backend_query *, backend_done,
			    void *arg, const char **reason);
	/*
	 * The mechanisms besides PLAIN and LOGIN it verifies now (none:
	 * NULL and the three below NULL too).
	 */
	void		(*mechs)(struct auth_mechs *);
	int		(*sasl_start)(const struct backend_sasl_query *,
			    backend_step_done, void *arg, void **handle,
			    const char **reason);
	int		(*sasl_step)(void *handle, const uint8_t *, size_t,
			    const char **reason);
	void		(*sasl_abort)(void *handle);
	/*
	 * Recipients (AUTH_MSG_RCPT, rcptlookup.c): is addr, lower case, an
	 * account of the store?  No password, no bind as the user.  The
	 * contract of verify(): 0 and done later with AUTH_OK (yes),
	 * AUTH_FAIL (no) or AUTH_TEMPFAIL (the store cannot say), or -1 with
	 * a reason.  NULL: no store of recipients (the users file is).
	 */
	int		(*lookup)(const char *addr, size_t len, backend_done,
			    void *arg, const char **reason);
	/*
	 * The login cache's tag of the account (logincache.h): a digest of
	 * what the backend holds for it (the users file's hash), so that a
	 * cached login made before a change never matches after it.
	 * Returns 0, or -1 (no such account: nothing is cached for it).
	 * NULL: authd.c tags with the backend's configuration.
	 */
	int		(*cache_tag)(const char *account, uint8_t tag[32]);
	/* Is the account's name folded to lower case (the cache key)? */
	int		  folds_case;
	/* At exit, after every verification was answered. */
	void		(*stop)(void);
};

extern const struct backend_ops	backend_file;
extern const struct backend_ops	backend_dovecot;
extern const struct backend_ops	backend_ldap;

#endif
