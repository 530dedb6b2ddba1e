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
 *
 * They also run the SCRAM-SHA-256 and SCRAM-SHA-256-PLUS mechanisms
 * (scram_server.c), offered when at least one entry holds such keys (a
 * crypt(3) hash cannot answer a SCRAM proof).  No PBKDF2 runs for them:
 * the keys are stored, and checking a proof is two HMAC and one SHA-256,
 * a few microseconds, so it runs on the event loop (a pool job would cost
 * more in hand-over than the check, and would queue behind yescrypt).  A
 * step's answer still comes from the loop after the call, as backend.h
 * wants.  A user without keys (unknown, or with a crypt hash) gets a
 * server-first like any other: a salt and keys derived from the user name
 * with HMAC under a secret made of every SCRAM entry's keys (so the fake
 * salt of a name stays the same across restarts, reloads and the nodes of
 * a farm sharing the file, as a real one does), the iteration count of
 * the first SCRAM entry; the proof then fails as a wrong one would.
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

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/addr.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/scram.h"
#include "common/workq.h"
#include "server/auth/backend.h"
#include "server/auth/scram_server.h"
#include "server/shared/users.h"

#define HASH_NICE		10	/* of the pool threads */
#define SNONCE_OCTETS		18	/* 24 base64 characters */
#define FAKE_SALT_LEN		16	/* as doveadm and scram_make() */

#define MECH_SCRAM		"SCRAM-SHA-256"
#define MECH_SCRAM_PLUS		"SCRAM-SHA-256-PLUS"

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

/* A SCRAM exchange; each step's answer is fired from the loop. */
enum fs_state { FS_FIRST = 1, FS_FINAL, FS_GONE };

struct fscram {
	struct scram_server	 sv;
	enum fs_state		 state;		/* the message awaited */
	int			 plus;
	int			 has_cb;
	uint8_t			 cb[AUTH_CBIND_MAX];
	size_t			 cblen;
	int			 known;		/* the user has SCRAM keys */
	const char		*fake_why;	/* else, for the log */
	backend_step_done	 done;
	void			*arg;
	struct event		*ev;
	struct backend_step	 st;		/* the answer to fire */
	char			 out[SCRAM_SV_MSG_MAX];
};

static struct {
	const struct config	*conf;
	struct workq		*wq;
	struct event_base	*base;
	struct user		**users;
	size_t			 usermask;
	size_t			 nusers;
	char			*dummy;		/* for unknown users */
	size_t			 nscram;	/* entries with SCRAM keys */
	uint32_t		 scram_iter;	/* of the first */
	EVP_MD_CTX		*fake_md;	/* over every entry's keys */
	uint8_t			 fake_key[SCRAM_KEY_LEN];
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
static void	 file_mechs(struct auth_mechs *);
static int	 file_sasl_start(const struct backend_sasl_query *,
		    backend_step_done, void *, void **, const char **);
static int	 file_sasl_step(void *, const uint8_t *, size_t,
		    const char **);
static void	 file_sasl_abort(void *);
static void	 fs_first(struct fscram *, const uint8_t *, size_t);
static void	 fs_final(struct fscram *, const uint8_t *, size_t);
static void	 fs_answer(struct fscram *, enum auth_result, const char *,
		    size_t);
static void	 fs_fire(int, short, void *);
static void	 fs_free(struct fscram *);
static enum auth_result verdict_of(enum scram_sv_result);
static int	 fake_keys(const char *, struct scram_stored *);

const struct backend_ops backend_file = {
	.name = "file",
	.init = file_init,
	.verify = file_verify,
	.cache_tag = file_cache_tag,
	.mechs = file_mechs,
	.sasl_start = file_sasl_start,
	.sasl_step = file_sasl_step,
	.sasl_abort = file_sasl_abort,
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
		if (check == CRYPT_SALT_OK) {
			/* The fake keys' secret: every entry's, in order. */
			if (F.nscram++ == 0)
				F.scram_iter = st.iterations;
			if (EVP_DigestUpdate(F.fake_md, st.stored_key,
			    SCRAM_KEY_LEN) != 1 || EVP_DigestUpdate(F.fake_md,
			    st.server_key, SCRAM_KEY_LEN) != 1)
				fatalx("EVP_DigestUpdate");
		}
		explicit_bzero(&st, sizeof(st));
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
	if ((F.fake_md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(F.fake_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(F.fake_md, "smtpauthd SCRAM fake keys", 25) != 1)
		fatalx("EVP_DigestInit_ex");
	if (users_parse(ctx.name, text, len, user_add, &ctx, &nbad,
	    users_warn) == -1)
		fatalx("out of memory");
	if (EVP_DigestFinal_ex(F.fake_md, F.fake_key, NULL) != 1)
		fatalx("EVP_DigestFinal_ex");
	EVP_MD_CTX_free(F.fake_md);
	F.fake_md = NULL;
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}

	/* The first usable hash sets the method and cost of the dummy. */
	if (ctx.first != NULL)
		(void)set_dummy(ctx.first->hash);
	if (F.dummy == NULL)
		make_dummy();
	log_info("users loaded=%zu bad=%zu scram=%zu", F.nusers, nbad,
	    F.nscram);
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
	F.base = env->base;
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

/*
 * SCRAM-SHA-256 and -PLUS, only when an entry can answer them.  Not over
 * clear text (plaintext 1: TLS only, as PLAIN): SCRAM keeps the password
 * off the wire, but an eavesdropper still gets the salt, the count and a
 * proof to guess the password offline, and without TLS there is nothing
 * to bind to.  -PLUS is offered by the worker on TLS 1.3 only.
 */
static void
file_mechs(struct auth_mechs *out)
{
	memset(out, 0, sizeof(*out));
	if (F.nscram == 0)
		return;
	snprintf(out->m[0].name, sizeof(out->m[0].name), "%s", MECH_SCRAM);
	snprintf(out->m[1].name, sizeof(out->m[1].name), "%s",
	    MECH_SCRAM_PLUS);
	out->m[0].plaintext = out->m[1].plaintext = 1;
	out->n = 2;
}

/* Salt and keys of a name without keys: HMAC(F.fake_key, label name). */
static int
fake_keys(const char *account, struct scram_stored *st)
{
	static const char *const label[3] = { "salt", "stored", "server" };
	uint8_t			 *dst[3], buf[SCRAM_KEY_LEN];
	char			  msg[8 + AUTH_FIELD_MAX + 1];
	unsigned int		  len;
	size_t			  i, alen = strlen(account), llen;
	int			  rv = 0;

	memset(st, 0, sizeof(*st));
	st->iterations = F.scram_iter;
	st->saltlen = FAKE_SALT_LEN;
	dst[0] = buf;
	dst[1] = st->stored_key;
	dst[2] = st->server_key;
	if (alen > AUTH_FIELD_MAX)
		return -1;
	for (i = 0; i < 3 && rv == 0; i++) {
		/* "label" NUL account: no two inputs alike. */
		llen = strlen(label[i]) + 1;
		memcpy(msg, label[i], llen);
		memcpy(msg + llen, account, alen);
		len = SCRAM_KEY_LEN;
		if (HMAC(EVP_sha256(), F.fake_key, sizeof(F.fake_key),
		    (const unsigned char *)msg, llen + alen, dst[i],
		    &len) == NULL || len != SCRAM_KEY_LEN)
			rv = -1;
	}
	memcpy(st->salt, buf, FAKE_SALT_LEN);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(msg, sizeof(msg));
	return rv;
}

static int
file_sasl_start(const struct backend_sasl_query *q, backend_step_done done,
    void *arg, void **handle, const char **reason)
{
	struct fscram	*fs;

	*reason = "mech-unavailable";
	if (F.nscram == 0 || (strcmp(q->mech, MECH_SCRAM) != 0 &&
	    strcmp(q->mech, MECH_SCRAM_PLUS) != 0))
		return -1;
	*reason = "bad-request";
	if (q->cblen > sizeof(fs->cb) || (q->has_data &&
	    q->datalen > SCRAM_SV_MSG_MAX))
		return -1;
	*reason = "out-of-memory";
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return -1;
	if ((fs->ev = event_new(F.base, -1, 0, fs_fire, fs)) == NULL) {
		free(fs);
		return -1;
	}
	fs->plus = strcmp(q->mech, MECH_SCRAM_PLUS) == 0;
	if (q->cb != NULL && q->cblen > 0) {
		memcpy(fs->cb, q->cb, q->cblen);
		fs->cblen = q->cblen;
		fs->has_cb = 1;
	}
	fs->done = done;
	fs->arg = arg;
	fs->state = FS_FIRST;
	*handle = fs;
	*reason = NULL;
	if (q->has_data)
		fs_first(fs, q->data, q->datalen);
	else
		/* RFC 4954 4: an empty challenge asks for client-first. */
		fs_answer(fs, AUTH_CONTINUE, NULL, 0);
	return 0;
}

static int
file_sasl_step(void *handle, const uint8_t *data, size_t len,
    const char **reason)
{
	struct fscram	*fs = handle;

	if (fs->state == FS_FIRST)
		fs_first(fs, data, len);
	else if (fs->state == FS_FINAL)
		fs_final(fs, data, len);
	else {
		*reason = "bad-request";
		fs_free(fs);
		return -1;
	}
	return 0;
}

static void
file_sasl_abort(void *handle)
{
	fs_free(handle);
}

/* The client-first message: who, and the server-first for them. */
static void
fs_first(struct fscram *fs, const uint8_t *data, size_t len)
{
	struct scram_stored	 st;
	struct user		*u;
	char			 account[AUTH_FIELD_MAX + 1];
	char			 snonce[BASE64_ENCODED_SIZE(SNONCE_OCTETS)];
	uint8_t			 rnd[SNONCE_OCTETS];
	const char		*why;
	size_t			 n;
	enum scram_sv_result	 r;

	/*
	 * The binding data is given to the parser only where -PLUS was
	 * offered (TLS 1.3: the worker sends it then alone), so that a 'y'
	 * there is a downgrade.
	 */
	r = scram_server_start(&fs->sv, fs->plus, fs->has_cb ? fs->cb : NULL,
	    fs->cblen, data, len, &why);
	if (r != SCRAM_SV_OK) {
		fs_answer(fs, verdict_of(r), why, 0);
		return;
	}
	if (addr_lower(fs->sv.user, account, sizeof(account)) == -1)
		account[0] = '\0';
	u = account[0] != '\0' ? user_find(account) : NULL;
	if (u != NULL && scram_is_stored(u->hash) &&
	    scram_parse(u->hash, &st) == 0)
		fs->known = 1;
	else {
		fs->fake_why = u != NULL ? "no-scram-keys" : "unknown-user";
		if (fake_keys(account, &st) == -1) {
			fs_answer(fs, AUTH_TEMPFAIL, "crypto", 0);
			return;
		}
	}
	explicit_bzero(account, sizeof(account));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    base64_encode(rnd, sizeof(rnd), snonce, sizeof(snonce),
	    NULL) == -1) {
		explicit_bzero(&st, sizeof(st));
		fs_answer(fs, AUTH_TEMPFAIL, "random", 0);
		return;
	}
	if (scram_server_first(&fs->sv, &st, snonce, strlen(snonce), fs->out,
	    sizeof(fs->out), &n) != SCRAM_SV_OK) {
		explicit_bzero(&st, sizeof(st));
		fs_answer(fs, AUTH_MALFORMED, "too-long", 0);
		return;
	}
	explicit_bzero(&st, sizeof(st));
	fs->state = FS_FINAL;
	fs_answer(fs, AUTH_CONTINUE, NULL, n);
}

/* The client-final message: the proof, and the server's signature. */
static void
fs_final(struct fscram *fs, const uint8_t *data, size_t len)
{
	const char		*why;
	size_t			 n;
	enum scram_sv_result	 r;

	fs->state = FS_GONE;
	r = scram_server_final(&fs->sv, data, len, fs->out, sizeof(fs->out),
	    &n, &why);
	if (r == SCRAM_SV_OK && fs->known)
		fs_answer(fs, AUTH_OK, NULL, n);
	else if (r == SCRAM_SV_OK)
		/* Fake keys cannot be proved. */
		fs_answer(fs, AUTH_FAIL, fs->fake_why, 0);
	else {
		/* A wrong proof says why the user could not give one. */
		if (r == SCRAM_SV_REFUSED && strcmp(why, "bad-proof") == 0)
			why = fs->known ? "bad-password" : fs->fake_why;
		fs_answer(fs, verdict_of(r), why, 0);
	}
}

/* A refusal of scram_server.c as the auth process's verdict. */
static enum auth_result
verdict_of(enum scram_sv_result r)
{
	switch (r) {
	case SCRAM_SV_REFUSED:
		return AUTH_FAIL;
	case SCRAM_SV_ERROR:
		return AUTH_TEMPFAIL;
	default:
		return AUTH_MALFORMED;
	}
}

/*
 * The answer to this step, fired from the loop (backend.h: never from
 * inside sasl_start() or sasl_step()).  len: octets of fs->out to send
 * (a challenge, or the server-final with AUTH_OK).
 */
static void
fs_answer(struct fscram *fs, enum auth_result result, const char *reason,
    size_t len)
{
	memset(&fs->st, 0, sizeof(fs->st));
	fs->st.result = result;
	fs->st.reason = reason;
	if (result == AUTH_CONTINUE || (result == AUTH_OK && len > 0)) {
		fs->st.data = (const uint8_t *)fs->out;
		fs->st.datalen = len;
	}
	if (fs->sv.userlen > 0) {
		fs->st.user = fs->sv.user;
		fs->st.userlen = fs->sv.userlen;
	}
	if (result != AUTH_CONTINUE)
		fs->state = FS_GONE;
	event_active(fs->ev, EV_TIMEOUT, 1);
}

static void
fs_fire(int fd, short events, void *arg)
{
	struct fscram	*fs = arg;

	if (fs->st.result == AUTH_CONTINUE) {
		/* done() may abort the exchange (and free fs): last. */
		fs->done(fs->arg, &fs->st);
		return;
	}
	/* Any other result ends it: the caller forgets the handle. */
	fs->done(fs->arg, &fs->st);
	fs_free(fs);
}

static void
fs_free(struct fscram *fs)
{
	if (fs == NULL)
		return;
	event_free(fs->ev);	/* deletes it if still active */
	scram_server_wipe(&fs->sv);
	explicit_bzero(fs, sizeof(*fs));
	free(fs);
}
