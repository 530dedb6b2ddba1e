/*
 * The file backend (auth-backend file, the default): the users file, as
 * read by the parent, in a hash table of this process; a password is
 * hashed with crypt_r(3) on the auth process's thread pool.
 *
 * Timing: an unknown user is verified against a dummy hash made with the
 * same method and cost as the first usable hash of the file, and a user
 * whose hash cannot be used is verified against it too, so the three
 * kinds of failure cost the same and get the same answer; only the log
 * tells them apart.
 *
 * SCRAM-SHA-256 stored keys (Dovecot's "{SCRAM-SHA-256}..." lines,
 * scram.h) verify PLAIN and LOGIN too: PBKDF2 on the pool, then ClientKey
 * hashed and compared to StoredKey.  When they come first in the file the
 * dummy is such keys too, with the same iteration count.
 */
#include <sys/random.h>
#include <sys/resource.h>

#include <crypt.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/log.h"
#include "common/scram.h"
#include "common/workq.h"
#include "server/auth/backend.h"
#include "server/shared/users.h"

#define HASH_NICE		10	/* of the pool threads */

struct user {
	struct user	*next;
	char		*hash;
	char		 addr[];
};

/* One verification on the pool. */
struct fjob {
	char			 pass[AUTH_FIELD_MAX + 1];	/* wipe it */
	const char		*hash;
	int			 known;
	enum auth_result	 result;
	const char		*reason;
	backend_done		 done;
	void			*arg;
};

static struct {
	const struct config	*conf;
	struct workq		*wq;
	struct user		**users;
	size_t			 usermask;
	size_t			 nusers;
	char			*dummy;		/* for unknown users */
} F;

struct load_ctx {
	const char	*name;
	struct user	*first;		/* in file order, for the dummy */
};

static uint64_t	 fnv1a(const char *);
static int	 user_add(void *, const char *, const char *, size_t);
static struct user *user_find(const char *);
static void	 users_warn(const char *);
static void	 load_users(char *, size_t);
static int	 set_dummy(const char *);
static void	 make_dummy(void);
static void	 lower_priority(void);
static void	 job_work(void *);
static void	 scram_work(struct fjob *);
static int	 crypt_dummy(struct fjob *);
static void	 job_done(void *);
static void	 file_init(struct backend_env *);
static int	 file_verify(const struct backend_query *, backend_done,
		    void *, const char **);
static void	 file_stop(void);
static int	 file_cache_tag(const char *, uint8_t[32]);

const struct backend_ops backend_file = {
	.name = "file",
	.init = file_init,
	.verify = file_verify,
	.cache_tag = file_cache_tag,
	.folds_case = 1,
	.stop = file_stop,
};

/* Users: a chained hash table (the keys are the administrator's). */
static uint64_t
fnv1a(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct user *
user_find(const char *addr)
{
	struct user	*u;

	if (F.users == NULL)
		return NULL;
	for (u = F.users[fnv1a(addr) & F.usermask]; u != NULL; u = u->next)
		if (strcmp(u->addr, addr) == 0)
			return u;
	return NULL;
}

static int
user_add(void *arg, const char *addr, const char *hash, size_t lineno)
{
	struct load_ctx	*ctx = arg;
	struct user	*u;
	size_t		 alen = strlen(addr) + 1;
	int		 check;

	if (user_find(addr) != NULL) {
		log_warnx("%s:%zu: %s given again, the first line counts",
		    ctx->name, lineno, addr);
		return 0;
	}
	switch ((check = crypt_checksalt(hash))) {
	case CRYPT_SALT_OK:
		break;
	case CRYPT_SALT_METHOD_LEGACY:
		log_warnx("%s:%zu: %s: a legacy hash method, consider a new "
		    "hash", ctx->name, lineno, addr);
		break;
#ifdef CRYPT_SALT_TOO_CHEAP
	case CRYPT_SALT_TOO_CHEAP:
		log_warnx("%s:%zu: %s: the hash is too cheap to compute",
		    ctx->name, lineno, addr);
		break;
#endif
	default:
		/* users_parse() reported it and counted it in bad=. */
		break;
	}
	if (scram_is_stored(hash)) {
		struct scram_stored	st;

		check = scram_parse(hash, &st) == 0 ? CRYPT_SALT_OK :
		    CRYPT_SALT_INVALID;
	}
	if ((u = calloc(1, sizeof(*u) + alen)) == NULL ||
	    (u->hash = strdup(hash)) == NULL) {
		free(u);
		return -1;
	}
	memcpy(u->addr, addr, alen);
	u->next = F.users[fnv1a(addr) & F.usermask];
	F.users[fnv1a(addr) & F.usermask] = u;
	F.nusers++;
	if (ctx->first == NULL && (check == CRYPT_SALT_OK ||
	    check == CRYPT_SALT_METHOD_LEGACY))
		ctx->first = u;
	return 0;
}

static void
users_warn(const char *msg)
{
	log_warnx("%s", msg);
}

static void
load_users(char *text, size_t len)
{
	struct load_ctx	 ctx;
	const char	*p, *end;
	size_t		 nlines = 0, nb = 16, nbad;

	/* Size the table from the number of lines: at most that many. */
	if (text == NULL)
		len = 0;
	else
		for (p = text, end = text + len; p < end; p++)
			if (*p == '\n')
				nlines++;
	while (nb < 2 * (nlines + 1) && nb < ((size_t)1 << 24))
		nb <<= 1;
	if ((F.users = calloc(nb, sizeof(*F.users))) == NULL)
		fatalx("out of memory");
	F.usermask = nb - 1;

	ctx.name = F.conf->users != NULL ? F.conf->users : "users";
	ctx.first = NULL;
	if (users_parse(ctx.name, text, len, user_add, &ctx, &nbad,
	    users_warn) == -1)
		fatalx("out of memory");
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}

	/* The first usable hash sets the method and cost of the dummy. */
	if (ctx.first != NULL)
		(void)set_dummy(ctx.first->hash);
	if (F.dummy == NULL)
		make_dummy();
	log_info("users loaded=%zu bad=%zu", F.nusers, nbad);
}

/*
 * F.dummy: the hash of a random password no one knows, with the method,
 * cost and salt of setting.  Returns 0, or -1 if crypt(3) refuses it.
 */
static int
set_dummy(const char *setting)
{
	struct crypt_data	*cd;
	struct scram_stored	 st;
	char			 pw[33], *out, keys[SCRAM_STORED_MAX];
	uint8_t			 rnd[16];
	size_t			 i;
	int			 rv = -1;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		fatal("getrandom");
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	if (scram_is_stored(setting)) {
		if (scram_parse(setting, &st) == 0 && scram_make(pw,
		    strlen(pw), st.iterations, keys, sizeof(keys)) == 0 &&
		    (F.dummy = strdup(keys)) != NULL)
			rv = 0;
		explicit_bzero(pw, sizeof(pw));
		explicit_bzero(rnd, sizeof(rnd));
		return rv;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		fatalx("out of memory");
	out = crypt_r(pw, setting, cd);
	if (out != NULL && out[0] != '*') {
		if ((F.dummy = strdup(out)) == NULL)
			fatalx("out of memory");
		rv = 0;
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rv;
}

/*
 * A dummy hash with a fresh salt, yescrypt at its default cost, for a
 * users file without one usable hash.
 */
static void
make_dummy(void)
{
	char	setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    sizeof(setting)) == NULL)
		fatal("crypt_gensalt_rn");
	if (set_dummy(setting) == -1)
		fatalx("crypt_r cannot hash with yescrypt");
}

/*
 * On a pool thread, once: hashing is bulk work that may take every core
 * for seconds (yescrypt on purpose), while the workers' event loops answer
 * every session and need the CPU the moment they wake up.  A batch,
 * low-priority thread lets them preempt it; the hashes still get all the
 * CPU nobody else wants.
 */
static void
lower_priority(void)
{
	static _Thread_local int	done;
	struct sched_param		sp;

	if (done)
		return;
	done = 1;
	memset(&sp, 0, sizeof(sp));
	/* On Linux both apply to the calling thread only. */
	(void)sched_setscheduler(0, SCHED_BATCH, &sp);
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), HASH_NICE);
}

/* job_work() for SCRAM keys; the same verdicts. */
static void
scram_work(struct fjob *j)
{
	struct scram_stored	st;
	int			match;

	if (scram_parse(j->hash, &st) == -1) {
		/* Cost what a wrong password costs. */
		if (j->known)
			(void)crypt_dummy(j);
		j->result = AUTH_FAIL;
		j->reason = j->known ? "unusable-hash" : "unknown-user";
		return;
	}
	match = scram_check(&st, j->pass, strlen(j->pass));
	explicit_bzero(&st, sizeof(st));
	if (match == -1) {
		j->result = AUTH_TEMPFAIL;
		j->reason = "out-of-memory";
	} else if (!j->known) {
		j->result = AUTH_FAIL;
		j->reason = "unknown-user";
	} else if (!match) {
		j->result = AUTH_FAIL;
		j->reason = "bad-password";
	} else {
		j->result = AUTH_OK;
		j->reason = NULL;
	}
}

/* Hash the password with the dummy (whatever its kind), for the time. */
static int
crypt_dummy(struct fjob *j)
{
	struct crypt_data	*cd;
	struct scram_stored	 st;

	if (scram_is_stored(F.dummy)) {
		if (scram_parse(F.dummy, &st) == 0)
			(void)scram_check(&st, j->pass, strlen(j->pass));
		return 0;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	(void)crypt_r(j->pass, F.dummy, cd);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return 0;
}

/* On a pool thread: nothing here may touch the loop's state. */
static void
job_work(void *arg)
{
	struct fjob		*j = arg;
	struct crypt_data	*cd;
	const char		*out;
	size_t			 hlen;
	int			 match = 0, unusable = 0, saved;

	lower_priority();
	if (scram_is_stored(j->hash)) {
		scram_work(j);
		goto wipe;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		j->result = AUTH_TEMPFAIL;
		j->reason = "out-of-memory";
		goto wipe;
	}
	errno = 0;
	out = crypt_r(j->pass, j->hash, cd);
	saved = errno;
	hlen = strlen(j->hash);
	if (out == NULL || out[0] == '*') {
		unusable = 1;
		/* Cost what a wrong password costs. */
		if (j->known && saved != ENOMEM)
			(void)crypt_dummy(j);
	} else if (strlen(out) == hlen)
		match = CRYPTO_memcmp(out, j->hash, hlen) == 0;

	if (unusable && saved == ENOMEM) {
		j->result = AUTH_TEMPFAIL;
		j->reason = "out-of-memory";
	} else if (!j->known) {
		j->result = AUTH_FAIL;
		j->reason = "unknown-user";
	} else if (unusable) {
		j->result = AUTH_FAIL;
		j->reason = "unusable-hash";
	} else if (!match) {
		j->result = AUTH_FAIL;
		j->reason = "bad-password";
	} else {
		j->result = AUTH_OK;
		j->reason = NULL;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
wipe:
	explicit_bzero(j->pass, sizeof(j->pass));
}

static void
job_done(void *arg)
{
	struct fjob	*j = arg;

	j->done(j->arg, j->result, j->reason);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void
file_init(struct backend_env *env)
{
	F.conf = env->conf;
	F.wq = env->wq;
	load_users(env->users_text, env->users_len);
	env->users_text = NULL;
	env->users_len = 0;
}

static int
file_verify(const struct backend_query *q, backend_done done, void *arg,
    const char **reason)
{
	struct fjob	*j;
	struct user	*u;

	if (q->passlen >= sizeof(j->pass)) {
		*reason = "bad-request";
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		*reason = "out-of-memory";
		return -1;
	}
	memcpy(j->pass, q->pass, q->passlen);
	if ((u = user_find(q->account)) != NULL) {
		j->hash = u->hash;
		j->known = 1;
	} else
		j->hash = F.dummy;
	j->done = done;
	j->arg = arg;
	if (workq_submit(F.wq, job_work, job_done, j) == -1) {
		explicit_bzero(j, sizeof(*j));
		free(j);
		*reason = "busy";
		return -1;
	}
	return 0;
}

/* The pool is stopped by authd.c (it answers every job first). */
static void
file_stop(void)
{
}

/* The login cache's tag: SHA-256 of the user's hash as the file has it. */
static int
file_cache_tag(const char *account, uint8_t tag[32])
{
	struct user	*u;

	if ((u = user_find(account)) == NULL)
		return -1;
	return SHA256((const unsigned char *)u->hash, strlen(u->hash),
	    tag) == NULL ? -1 : 0;
}
