/*
 * Lines of Dovecot's auth-client protocol, as the server sends them
 * (doc.dovecot.org, "Authentication Protocol"): TAB-separated fields, one
 * line per LF.  The parser is pure (no I/O) so that a fuzzer can drive it;
 * backend_dovecot.c reads the lines off the socket, bounded by
 * DVC_LINE_MAX, and hands each one here.
 */
#ifndef SMTPAUTHD_DOVECOT_PROTO_H
#define SMTPAUTHD_DOVECOT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define DVC_LINE_MAX	16384	/* longer: a broken or hostile server */
#define DVC_MECH_MAX	64

enum dvc_kind {
	DVC_IGNORE,	/* SPID, CUID, COOKIE, or a line we do not know */
	DVC_VERSION,
	DVC_MECH,
	DVC_DONE,
	DVC_OK,
	DVC_FAIL,
	DVC_CONT,
	DVC_BAD,	/* malformed: drop the connection */
	DVC_USER,	/* auth-master: the userdb knows the user */
	DVC_NOTFOUND,	/* auth-master: it does not */
};

struct dvc_line {
	enum dvc_kind	kind;
	unsigned	major, minor;		/* VERSION */
	char		mech[DVC_MECH_MAX];	/* MECH, upper case as sent */
	int		plaintext;		/* MECH: flag "plaintext" */
	int		private_;		/* MECH: anonymous or private */
	uint32_t	id;			/* OK, FAIL, CONT */
	int		temp;			/* FAIL: a temporary failure */
	/*
	 * Into the line: CONT's data, and OK's resp= (final data of the
	 * mechanism), base64 as sent, have_data when present at all; OK's
	 * and FAIL's user=, NULL when absent.
	 */
	const char	*data;
	size_t		 datalen;
	int		 have_data;
	const char	*user;
	size_t		 userlen;
};

/*
 * Framing: in the len octets at buf, is there a whole line?  1 (its
 * length without the LF in *linelen), 0 (not yet: read more), or -1 (a
 * line longer than DVC_LINE_MAX: drop the connection).
 */
int		dvc_frame(const char *buf, size_t len, size_t *linelen);

/*
 * Parse one line of len octets (without its LF; a trailing CR is not
 * allowed either).  Fills *out; returns out->kind.
 */
enum dvc_kind	dvc_parse(const char *line, size_t len, struct dvc_line *out);

/*
 * A line of the auth-master protocol (dovecot-userdb: the auth-userdb
 * socket), as Dovecot answers a "USER id name" lookup: VERSION, USER id
 * name fields..., NOTFOUND id, FAIL id (the userdb could not say: out->temp
 * is always set); SPID and lines we do not know are DVC_IGNORE.  The
 * same rules as dvc_parse().
 */
enum dvc_kind	dvc_parse_master(const char *line, size_t len,
		    struct dvc_line *out);

#endif
