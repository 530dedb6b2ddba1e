/*
 * The targets of one smtpauth check run: the ports of a host (--ports),
 * the lines of a targets file (--targets), and running them, a bounded
 * number at once, each in a child process of its own; then one report of
 * them all and one exit status.
 *
 * A child checks one target with the run's options and writes its whole
 * struct ck_target back into a memfd of its own; the parent reads it once
 * the child is gone.  A child is a copy of this process: the pointers in
 * the results (the check ids) stay valid, and nothing else is shared.
 *
 * The targets file, one target a line (smtpauth(1)):
 *
 *	HOST[:PORT] [ports=PORT[/KIND],...] [user=U] [password-file=F] [to=ADDR]
 *	    [role=mx|submission] [tls=starttls|implicit|none]
 *
 * words separated by white space, no quoting; "#" at the start of a word
 * starts a comment to the end of the line.  Everything is checked before
 * the first connection, with FILE:LINE in every message.
 */
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/report.h"
#include "common/durable.h"

#define TARGETS_LINE_MAX	4096

struct child {
	pid_t	 pid;
	int	 fd;
	size_t	 target;
};

static int	port_number(const char *, size_t, int *);
static int	parse_line(char *, const char *, int, const struct ck_port *,
		    size_t, struct ck_target *, char *, size_t);
static int	set_word(char *, size_t, const char *, const char *, int,
		    const char *, char *, size_t);
static int	start_child(const struct checker *, struct ck_target *,
		    size_t, struct child *);
static void	reap_child(struct ck_target *, struct child *, int);

/* A port in s[0..len): 1..65535; 0 or -1. */
static int
port_number(const char *s, size_t len, int *port)
{
	size_t	i;
	long	v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * "25,587,2525/submission,2465/smtps": the ports, each once, and what
 * each is for (mx, submission, or smtps: submission with implicit TLS).
 * 0, or -1 with err.
 */
int
ck_ports_parse(const char *arg, struct ck_port *ports, size_t *np, char *err,
    size_t errlen)
{
	const char	*p = arg, *comma, *slash, *kind;
	size_t		 n = 0, len, plen, klen, i;
	int		 port;

	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		slash = memchr(p, '/', len);
		plen = slash != NULL ? (size_t)(slash - p) : len;
		if (port_number(p, plen, &port) == -1) {
			(void)snprintf(err, errlen, "ports: \"%s\": a list of "
			    "PORT[/mx|/submission|/smtps], e.g. 25,587", arg);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (ports[i].port == port) {
				(void)snprintf(err, errlen, "ports: %d twice",
				    port);
				return -1;
			}
		if (n == CK_PORTS_MAX) {
			(void)snprintf(err, errlen, "ports: at most %d",
			    CK_PORTS_MAX);
			return -1;
		}
		ports[n].port = port;
		ports[n].role = ROLE_UNKNOWN;
		ports[n].tls = TLSMODE_DEFAULT;
		if (slash != NULL) {
			kind = slash + 1;
			klen = len - plen - 1;
			if (klen == 2 && memcmp(kind, "mx", 2) == 0)
				ports[n].role = ROLE_MX;
			else if (klen == 10 && memcmp(kind, "submission",
			    10) == 0)
				ports[n].role = ROLE_SUBMISSION;
			else if (klen == 5 && memcmp(kind, "smtps", 5) == 0) {
				ports[n].role = ROLE_SUBMISSION;
				ports[n].tls = TLSMODE_IMPLICIT;
			} else {
				(void)snprintf(err, errlen, "ports: %d/%.*s: "
				    "mx, submission or smtps", port,
				    (int)(klen > 20 ? 20 : klen), kind);
				return -1;
			}
		}
		n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*np = n;
	return 0;
}

/* A key's value into dst, once per line and not empty. */
static int
set_word(char *dst, size_t size, const char *val, const char *file,
    int line, const char *key, char *err, size_t errlen)
{
	if (dst[0] != '\0') {
		(void)snprintf(err, errlen, "%s:%d: %s= twice", file, line,
		    key);
		return -1;
	}
	if (val[0] == '\0' || strlen(val) >= size) {
		(void)snprintf(err, errlen, "%s:%d: %s=: empty or too long",
		    file, line, key);
		return -1;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

/*
 * One line with its comment cut: 0 when blank, the number of targets
 * (one per port) put at out, or -1 with err.  out has room for
 * CK_PORTS_MAX.
 */
static int
parse_line(char *s, const char *file, int line, const struct ck_port *dports,
    size_t ndports, struct ck_target *out, char *err, size_t errlen)
{
	struct ck_target	*t = &out[0];
	struct cliopts		 o;
	char			*w, *save = NULL, *eq, what[320];
	struct ck_port		 ports[CK_PORTS_MAX];
	int			 tls_set = 0, role_set = 0;
	size_t			 nports = 0, i;

	memset(t, 0, sizeof(*t));
	t->line = line;
	if ((w = strtok_r(s, " \t", &save)) == NULL)
		return 0;
	if (strchr(w, '=') != NULL) {
		(void)snprintf(err, errlen, "%s:%d: a line starts with "
		    "HOST[:PORT]", file, line);
		return -1;
	}
	cliopt_init(&o);
	if (cliopt_target(&o, w, what, sizeof(what)) == -1) {
		(void)snprintf(err, errlen, "%s:%d: %s", file, line, what);
		return -1;
	}
	(void)snprintf(t->host, sizeof(t->host), "%s", o.host);
	if (o.port_given) {
		ports[0].port = atoi(o.port);
		ports[0].role = ROLE_UNKNOWN;
		ports[0].tls = TLSMODE_DEFAULT;
		nports = 1;
	}
	while ((w = strtok_r(NULL, " \t", &save)) != NULL) {
		if ((eq = strchr(w, '=')) == NULL) {
			(void)snprintf(err, errlen, "%s:%d: \"%s\": not "
			    "key=value", file, line, w);
			return -1;
		}
		*eq++ = '\0';
		if (strcmp(w, "ports") == 0) {
			if (nports > 0) {
				(void)snprintf(err, errlen, "%s:%d: ports= "
				    "with HOST:PORT, or twice", file, line);
				return -1;
			}
			if (ck_ports_parse(eq, ports, &nports, what,
			    sizeof(what)) == -1) {
				(void)snprintf(err, errlen, "%s:%d: %s", file,
				    line, what);
				return -1;
			}
		} else if (strcmp(w, "user") == 0) {
			if (set_word(t->user, sizeof(t->user), eq, file, line,
			    w, err, errlen) == -1)
				return -1;
		} else if (strcmp(w, "password-file") == 0) {
			if (set_word(t->password_file, sizeof(t->password_file),
			    eq, file, line, w, err, errlen) == -1)
				return -1;
		} else if (strcmp(w, "to") == 0) {
			if (set_word(t->to, sizeof(t->to), eq, file, line, w,
			    err, errlen) == -1)
				return -1;
			if (!cliopt_is_address(t->to)) {
				(void)snprintf(err, errlen, "%s:%d: to=: not "
				    "an address", file, line);
				return -1;
			}
		} else if (strcmp(w, "role") == 0 && !role_set) {
			role_set = 1;
			if ((t->role = ck_role_from_name(eq)) == -1) {
				(void)snprintf(err, errlen, "%s:%d: role=: mx "
				    "or submission", file, line);
				return -1;
			}
		} else if (strcmp(w, "tls") == 0 && !tls_set) {
			tls_set = 1;
			if ((t->tls = cliopt_tls_mode(eq)) == TLSMODE_DEFAULT) {
				(void)snprintf(err, errlen, "%s:%d: tls=: "
				    "starttls, implicit or none", file, line);
				return -1;
			}
		} else if (strcmp(w, "role") == 0 || strcmp(w, "tls") == 0) {
			(void)snprintf(err, errlen, "%s:%d: %s= twice", file,
			    line, w);
			return -1;
		} else {
			(void)snprintf(err, errlen, "%s:%d: unknown key \"%s\" "
			    "(ports, user, password-file, to, role, tls)", file,
			    line, w);
			return -1;
		}
	}
	if (t->password_file[0] != '\0' && t->user[0] == '\0') {
		(void)snprintf(err, errlen, "%s:%d: password-file= without "
		    "user=", file, line);
		return -1;
	}
	/* Named ports must answer; the host's list only notes closed ones. */
	t->port_given = nports > 0 || ndports > 0;
	if (nports == 0 && ndports > 0) {
		memcpy(ports, dports, ndports * sizeof(ports[0]));
		nports = ndports;
	} else if (nports == 0) {
		memset(ports, 0, sizeof(ports));
		ports[0].port = 25;
		ports[1].port = 465;
		ports[2].port = 587;
		nports = 3;
	}
	/* A port's kind is more precise than the line's role= and tls=. */
	for (i = nports; i-- > 0; ) {
		if (i > 0)
			out[i] = *t;	/* out[0] is the line's, last */
		out[i].port = ports[i].port;
		if (ports[i].role != ROLE_UNKNOWN)
			out[i].role = ports[i].role;
		if (ports[i].tls != TLSMODE_DEFAULT)
			out[i].tls = ports[i].tls;
	}
	return (int)nports;
}

int
ck_targets_read(const char *file, const struct ck_port *dports,
    size_t ndports, struct ck_target **tp, size_t *np, char *err,
    size_t errlen)
{
	FILE	*fp;
	int	 rv;

	if ((fp = fopen(file, "r")) == NULL) {
		(void)snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	rv = ck_targets_parse(fp, file, dports, ndports, tp, np, err, errlen);
	(void)fclose(fp);
	return rv;
}

int
ck_targets_parse(FILE *fp, const char *file, const struct ck_port *dports,
    size_t ndports, struct ck_target **tp, size_t *np, char *err,
    size_t errlen)
{
	struct ck_target	*t = NULL, *nt, *one;
	char			*buf = NULL, *c, *hash;
	size_t			 n = 0, cap = 0, bufsize = 0, i;
	ssize_t			 len;
	int			 line = 0, k, rv = -1;

	/*
	 * A line's targets, one a port: large (the results), so not on the
	 * stack.
	 */
	if ((one = calloc(CK_PORTS_MAX, sizeof(*one))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((len = getline(&buf, &bufsize, fp)) == -1)
			break;
		line++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len > TARGETS_LINE_MAX) {
			(void)snprintf(err, errlen, "%s:%d: line longer than "
			    "%d octets", file, line, TARGETS_LINE_MAX);
			goto out;
		}
		if (strlen(buf) != (size_t)len) {
			(void)snprintf(err, errlen, "%s:%d: NUL in the line",
			    file, line);
			goto out;
		}
		for (c = buf; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t') {
				(void)snprintf(err, errlen, "%s:%d: control "
				    "character in the line", file, line);
				goto out;
			}
		/* A comment: "#" at the start of the line or of a word. */
		for (hash = buf; (hash = strchr(hash, '#')) != NULL; hash++)
			if (hash == buf || hash[-1] == ' ' ||
			    hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		if ((k = parse_line(buf, file, line, dports, ndports, one,
		    err, errlen)) == -1)
			goto out;
		if (k == 0)
			continue;
		if (n + (size_t)k > CK_TARGETS_MAX) {
			(void)snprintf(err, errlen, "%s:%d: more than %d "
			    "targets", file, line, CK_TARGETS_MAX);
			goto out;
		}
		if (n + (size_t)k > cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if (cap < n + (size_t)k)
				cap = n + (size_t)k;
			if ((nt = reallocarray(t, cap, sizeof(*t))) == NULL) {
				(void)snprintf(err, errlen, "out of memory");
				goto out;
			}
			t = nt;
		}
		for (i = 0; i < (size_t)k; i++)
			t[n++] = one[i];
	}
	if (ferror(fp) || errno == ENOMEM) {
		(void)snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (n == 0) {
		(void)snprintf(err, errlen, "%s: no targets", file);
		goto out;
	}
	*tp = t;
	*np = n;
	t = NULL;
	rv = 0;
 out:
	free(t);
	free(one);
	free(buf);
	return rv;
}

/* A child for target i; 0, or -1 when none could be started (t says). */
static int
start_child(const struct checker *tmpl, struct ck_target *t, size_t i,
    struct child *ch)
{
	char	why[300];
	pid_t	pid;
	int	fd;

	if ((fd = memfd_create("smtpauth-check", MFD_CLOEXEC)) == -1) {
		(void)snprintf(why, sizeof(why), "memfd_create: %s",
		    strerror(errno));
		ck_result_error(&t[i], why);
		return -1;
	}
	/* Nothing buffered may be written twice. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		(void)snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		ck_result_error(&t[i], why);
		close(fd);
		return -1;
	}
	if (pid == 0) {
		ck_run_target(tmpl, &t[i]);
		fflush(stderr);
		_exit(write_all(fd, &t[i], sizeof(t[i])) == 0 ? 0 : 3);
	}
	ch->pid = pid;
	ch->fd = fd;
	ch->target = i;
	return 0;
}

/* The child of ch ended with status: its target's results, or why not. */
static void
reap_child(struct ck_target *t, struct child *ch, int status)
{
	struct ck_target	*got, *dst = &t[ch->target];
	char			 why[200];
	ssize_t			 n;

	if ((got = malloc(sizeof(*got))) == NULL) {
		ck_result_error(dst, "out of memory");
		goto out;
	}
	n = pread(ch->fd, got, sizeof(*got), 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    n == (ssize_t)sizeof(*got))
		*dst = *got;
	else {
		if (WIFSIGNALED(status))
			(void)snprintf(why, sizeof(why), "the check of this "
			    "target died (signal %d)", WTERMSIG(status));
		else
			(void)snprintf(why, sizeof(why), "the check of this "
			    "target ended without results");
		ck_result_error(dst, why);
	}
	explicit_bzero(got, sizeof(*got));
	free(got);
 out:
	close(ch->fd);
	ch->pid = -1;
}

void
ck_run_all(const struct checker *tmpl, struct ck_target *t, size_t n,
    int parallel)
{
	struct child	*kids;
	size_t		 next = 0, running = 0, k;
	pid_t		 pid;
	int		 status;

	if (parallel < 1)
		parallel = 1;
	if ((kids = calloc((size_t)parallel, sizeof(*kids))) == NULL) {
		for (k = 0; k < n; k++)
			ck_result_error(&t[k], "out of memory");
		return;
	}
	for (k = 0; k < (size_t)parallel; k++)
		kids[k].pid = -1;
	while (next < n || running > 0) {
		for (k = 0; k < (size_t)parallel && next < n; k++) {
			if (kids[k].pid != -1)
				continue;
			if (start_child(tmpl, t, next, &kids[k]) == 0)
				running++;
			next++;
		}
		if (running == 0)
			continue;
		if ((pid = waitpid(-1, &status, 0)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (k = 0; k < (size_t)parallel; k++)
			if (kids[k].pid == pid) {
				reap_child(t, &kids[k], status);
				running--;
				break;
			}
	}
	/* waitpid failed (ECHILD: not ours to reap?): say so, keep none. */
	for (k = 0; k < (size_t)parallel; k++)
		if (kids[k].pid != -1) {
			(void)kill(kids[k].pid, SIGTERM);
			(void)waitpid(kids[k].pid, &status, 0);
			reap_child(t, &kids[k], status);
		}
	free(kids);
}

/*
 * The report of the run: one target of HOST:PORT as it always was, else
 * every target and the summary; JUnit when asked.  The exit status.
 */
int
ck_report(const struct checker *ck, const struct ck_target *t, size_t n,
    int single, FILE *junit, time_t started)
{
	struct report_target	*rt;
	size_t			 i;
	int			 rv;

	if ((rt = calloc(n, sizeof(*rt))) == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		rt[i].target = t[i].target;
		rt[i].role = ck_role_name(t[i].role_used);
		rt[i].state = t[i].rv == 0 ? REPORT_PASS : t[i].rv == 1 ?
		    REPORT_FAIL : t[i].closed ? REPORT_CLOSED :
		    REPORT_UNTESTED;
		rt[i].ms = t[i].ms;
		rt[i].res = t[i].res;
		rt[i].ms_each = t[i].check_ms;
		rt[i].n = C_COUNT;
	}
	if (single && ck->json)
		report_json(stdout, t[0].target, t[0].res, C_COUNT);
	else if (single)
		report_text(stdout, t[0].target, t[0].res, C_COUNT,
		    report_use_color(stdout));
	else if (ck->json)
		report_json_all(stdout, rt, n);
	else
		report_text_all(stdout, rt, n, report_use_color(stdout));
	fflush(stdout);
	rv = single ? t[0].rv : report_exit(rt, n);
	if (junit != NULL && report_junit(junit, rt, n, started) == -1) {
		fprintf(stderr, "smtpauth: check: %s: %s\n", ck->junit_file,
		    strerror(errno));
		rv = 2;
	}
	free(rt);
	return rv;
}
