/*
 * Hand-built TLS ClientHello records and the parser of the server's first
 * answer, for the suites and versions this OpenSSL can no longer offer
 * (SSLv3, RC4, DES, 3DES, export: testssl.sh's "sockets" mode).  Pure
 * functions over buffers, no I/O: the TLS audit (check_tlsaudit.c) writes
 * the record after STARTTLS, reads what comes back and asks this parser
 * what it is.  The handshake is never completed.
 *
 * Everything parsed comes from the network: every length is checked
 * against the bytes there and against fixed bounds, and an answer that
 * does not fit what was offered (a suite, a version, a compression method
 * not offered) is a protocol violation, never an acceptance.
 */
#ifndef SMTPAUTH_TLSHELLO_H
#define SMTPAUTH_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

#define TLSHELLO_SSL3		0x0300
#define TLSHELLO_TLS10		0x0301
#define TLSHELLO_TLS11		0x0302
#define TLSHELLO_TLS12		0x0303

#define TLSHELLO_SUITES_MAX	128	/* offered in one ClientHello */
#define TLSHELLO_MAX		1024	/* the largest record built */
#define TLSHELLO_RECORD_MAX	16384	/* a plaintext record (RFC 5246) */
#define TLSHELLO_SH_MAX		4096	/* a ServerHello message's body */
/* What a reader keeps of the answer: a ServerHello in 1-octet records. */
#define TLSHELLO_ANSWER_MAX	(6 * (4 + TLSHELLO_SH_MAX) + 5)

/* The suites' classes, the weak ones this OpenSSL lacks first. */
enum {
	TLSHELLO_EXPORT, TLSHELLO_RC4, TLSHELLO_DES, TLSHELLO_3DES,
	TLSHELLO_OTHER,		/* offered only to an SSLv3 server */
	TLSHELLO_NCLASS
};

struct tlshello_suite {
	uint16_t	 code;		/* IANA's two octets */
	int		 cls;		/* TLSHELLO_EXPORT ... */
	const char	*name;		/* OpenSSL's name, as the audit shows */
	const char	*iana;		/* the registry's name */
};

/* The table, by class then code; and a look-up (NULL: not in it). */
extern const struct tlshello_suite	tlshello_suites[];
extern const size_t			tlshello_nsuites;
const struct tlshello_suite	*tlshello_suite(uint16_t);
const char	*tlshello_class_name(int);

struct tlshello_offer {
	uint16_t	 version;	/* client_version: SSL3 ... TLS12 */
	const uint16_t	*suites;
	size_t		 nsuites;	/* 1 .. TLSHELLO_SUITES_MAX */
	/*
	 * Extensions (SNI when servername is not NULL, groups, point
	 * formats, signature algorithms, renegotiation_info) for TLS; none
	 * for SSLv3, and the renegotiation SCSV instead.
	 */
	int		 extensions;
	const char	*servername;	/* a DNS name, never an address */
	uint8_t		 random[32];
};

/*
 * The ClientHello record of o into buf: 0 and *len, or -1 (a bad offer,
 * or buf too small).
 */
int		 tlshello_build(const struct tlshello_offer *o, uint8_t *buf,
		    size_t size, size_t *len);

enum tlshello_kind {
	TLSHELLO_MORE = 0,	/* not enough octets yet */
	TLSHELLO_HELLO,		/* a ServerHello: version and suite */
	TLSHELLO_ALERT,		/* an alert: level and description */
	TLSHELLO_BAD		/* a protocol violation: why */
};

struct tlshello_answer {
	enum tlshello_kind	 kind;
	uint16_t		 version;	/* TLSHELLO_HELLO */
	uint16_t		 suite;
	uint8_t			 level;		/* TLSHELLO_ALERT */
	uint8_t			 desc;
	char			 why[160];	/* TLSHELLO_BAD, printable */
};

/*
 * What the len octets the server sent after the ClientHello of o are:
 * the whole answer so far, every time (a reader calls it after each read
 * until it is not TLSHELLO_MORE).  Octets after a ServerHello (the
 * certificate...) are not looked at.
 */
enum tlshello_kind tlshello_parse(const struct tlshello_offer *o,
		    const uint8_t *buf, size_t len, struct tlshello_answer *);

/* "SSLv3", "TLSv1.0" ... or NULL; an alert description's name or NULL. */
const char	*tlshello_version_name(uint16_t);
const char	*tlshello_alert_name(uint8_t);

#endif
