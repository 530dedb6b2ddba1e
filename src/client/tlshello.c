/*
 * Raw ClientHello records and the first answer to one (tlshello.h).
 *
 * A ClientHello is one handshake record: client_version, 32 random
 * octets, no session id, the suites, the null compression method only,
 * and for TLS a few extensions that servers of the time need before they
 * will pick an ECDHE suite.  The answer is read as a sequence of records:
 * an alert record first is a refusal; handshake records are joined until
 * the first message, which must be a ServerHello, is whole; anything else
 * is a protocol violation, said in printable words.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/tlshello.h"

#define REC_ALERT	21
#define REC_HANDSHAKE	22
#define HS_CLIENT_HELLO	1
#define HS_SERVER_HELLO	2
#define SCSV_RENEG	0x00ff	/* RFC 5746: never a suite to choose */
#define SCSV_FALLBACK	0x5600	/* RFC 7507: the same */
#define EXT_SNI		0
#define EXT_GROUPS	10
#define EXT_POINTS	11
#define EXT_SIGALGS	13
#define EXT_VERSIONS	43	/* TLS 1.3's, never offered here */
#define EXT_RENEG	0xff01
#define EXT_SEEN_MAX	64	/* extensions of one ServerHello */

static int	bad(struct tlshello_answer *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	offered(const struct tlshello_offer *, uint16_t);
static int	server_hello(const struct tlshello_offer *, const uint8_t *,
		    size_t, struct tlshello_answer *);
static uint8_t	*put16(uint8_t *, unsigned int);

/*
 * The weak suites OpenSSL 3 cannot offer, RSA, DHE and ECDHE key exchange
 * (and the static ECDH ones), then the CBC suites of the SSLv3 years that
 * an SSLv3 server would take when it has none of the weak ones.
 */
const struct tlshello_suite tlshello_suites[] = {
	{ 0x0003, TLSHELLO_EXPORT, "EXP-RC4-MD5",
	    "TLS_RSA_EXPORT_WITH_RC4_40_MD5" },
	{ 0x0006, TLSHELLO_EXPORT, "EXP-RC2-CBC-MD5",
	    "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5" },
	{ 0x0008, TLSHELLO_EXPORT, "EXP-DES-CBC-SHA",
	    "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0011, TLSHELLO_EXPORT, "EXP-EDH-DSS-DES-CBC-SHA",
	    "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0014, TLSHELLO_EXPORT, "EXP-EDH-RSA-DES-CBC-SHA",
	    "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0062, TLSHELLO_EXPORT, "EXP1024-DES-CBC-SHA",
	    "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA" },
	{ 0x0063, TLSHELLO_EXPORT, "EXP1024-DHE-DSS-DES-CBC-SHA",
	    "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA" },
	{ 0x0064, TLSHELLO_EXPORT, "EXP1024-RC4-SHA",
	    "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA" },
	{ 0x0065, TLSHELLO_EXPORT, "EXP1024-DHE-DSS-RC4-SHA",
	    "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA" },
	{ 0x0004, TLSHELLO_RC4, "RC4-MD5", "TLS_RSA_WITH_RC4_128_MD5" },
	{ 0x0005, TLSHELLO_RC4, "RC4-SHA", "TLS_RSA_WITH_RC4_128_SHA" },
	{ 0x0066, TLSHELLO_RC4, "DHE-DSS-RC4-SHA",
	    "TLS_DHE_DSS_WITH_RC4_128_SHA" },
	{ 0xc002, TLSHELLO_RC4, "ECDH-ECDSA-RC4-SHA",
	    "TLS_ECDH_ECDSA_WITH_RC4_128_SHA" },
	{ 0xc007, TLSHELLO_RC4, "ECDHE-ECDSA-RC4-SHA",
	    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA" },
	{ 0xc00c, TLSHELLO_RC4, "ECDH-RSA-RC4-SHA",
	    "TLS_ECDH_RSA_WITH_RC4_128_SHA" },
	{ 0xc011, TLSHELLO_RC4, "ECDHE-RSA-RC4-SHA",
	    "TLS_ECDHE_RSA_WITH_RC4_128_SHA" },
	{ 0x0009, TLSHELLO_DES, "DES-CBC-SHA", "TLS_RSA_WITH_DES_CBC_SHA" },
	{ 0x0012, TLSHELLO_DES, "EDH-DSS-DES-CBC-SHA",
	    "TLS_DHE_DSS_WITH_DES_CBC_SHA" },
	{ 0x0015, TLSHELLO_DES, "EDH-RSA-DES-CBC-SHA",
	    "TLS_DHE_RSA_WITH_DES_CBC_SHA" },
	{ 0x000a, TLSHELLO_3DES, "DES-CBC3-SHA",
	    "TLS_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0013, TLSHELLO_3DES, "EDH-DSS-DES-CBC3-SHA",
	    "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0016, TLSHELLO_3DES, "EDH-RSA-DES-CBC3-SHA",
	    "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc003, TLSHELLO_3DES, "ECDH-ECDSA-DES-CBC3-SHA",
	    "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc008, TLSHELLO_3DES, "ECDHE-ECDSA-DES-CBC3-SHA",
	    "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc00d, TLSHELLO_3DES, "ECDH-RSA-DES-CBC3-SHA",
	    "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc012, TLSHELLO_3DES, "ECDHE-RSA-DES-CBC3-SHA",
	    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x002f, TLSHELLO_OTHER, "AES128-SHA",
	    "TLS_RSA_WITH_AES_128_CBC_SHA" },
	{ 0x0035, TLSHELLO_OTHER, "AES256-SHA",
	    "TLS_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x0032, TLSHELLO_OTHER, "DHE-DSS-AES128-SHA",
	    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA" },
	{ 0x0033, TLSHELLO_OTHER, "DHE-RSA-AES128-SHA",
	    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" },
	{ 0x0038, TLSHELLO_OTHER, "DHE-DSS-AES256-SHA",
	    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA" },
	{ 0x0039, TLSHELLO_OTHER, "DHE-RSA-AES256-SHA",
	    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x0041, TLSHELLO_OTHER, "CAMELLIA128-SHA",
	    "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x0084, TLSHELLO_OTHER, "CAMELLIA256-SHA",
	    "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x0096, TLSHELLO_OTHER, "SEED-SHA", "TLS_RSA_WITH_SEED_CBC_SHA" },
	{ 0x0007, TLSHELLO_OTHER, "IDEA-CBC-SHA",
	    "TLS_RSA_WITH_IDEA_CBC_SHA" },
	{ 0xc009, TLSHELLO_OTHER, "ECDHE-ECDSA-AES128-SHA",
	    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" },
	{ 0xc00a, TLSHELLO_OTHER, "ECDHE-ECDSA-AES256-SHA",
	    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xc013, TLSHELLO_OTHER, "ECDHE-RSA-AES128-SHA",
	    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xc014, TLSHELLO_OTHER, "ECDHE-RSA-AES256-SHA",
	    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" },
};
const size_t tlshello_nsuites = sizeof(tlshello_suites) /
    sizeof(tlshello_suites[0]);

static const char *const class_names[TLSHELLO_NCLASS] = {
	[TLSHELLO_EXPORT] = "export",
	[TLSHELLO_RC4] = "RC4",
	[TLSHELLO_DES] = "DES",
	[TLSHELLO_3DES] = "3DES",
	[TLSHELLO_OTHER] = "other",
};

/* Groups and signature algorithms a server of 2010 or 2020 knows. */
static const uint16_t groups[] = { 0x001d, 0x0017, 0x0018, 0x0019 };
static const uint16_t sigalgs[] = {
	0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0603, 0x0804, 0x0805,
	0x0806, 0x0201, 0x0203, 0x0202, 0x0402,
};
#define NGROUPS		(sizeof(groups) / sizeof(groups[0]))
#define NSIGALGS	(sizeof(sigalgs) / sizeof(sigalgs[0]))

const struct tlshello_suite *
tlshello_suite(uint16_t code)
{
	size_t	i;

	for (i = 0; i < tlshello_nsuites; i++)
		if (tlshello_suites[i].code == code)
			return &tlshello_suites[i];
	return NULL;
}

const char *
tlshello_class_name(int cls)
{
	if (cls < 0 || cls >= TLSHELLO_NCLASS)
		return "?";
	return class_names[cls];
}

const char *
tlshello_version_name(uint16_t v)
{
	switch (v) {
	case TLSHELLO_SSL3:
		return "SSLv3";
	case TLSHELLO_TLS10:
		return "TLSv1.0";
	case TLSHELLO_TLS11:
		return "TLSv1.1";
	case TLSHELLO_TLS12:
		return "TLSv1.2";
	case 0x0304:
		return "TLSv1.3";
	default:
		return NULL;
	}
}

const char *
tlshello_alert_name(uint8_t d)
{
	switch (d) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 22:
		return "record_overflow";
	case 40:
		return "handshake_failure";
	case 47:
		return "illegal_parameter";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 86:
		return "inappropriate_fallback";
	case 90:
		return "user_canceled";
	case 109:
		return "missing_extension";
	case 110:
		return "unsupported_extension";
	case 112:
		return "unrecognized_name";
	default:
		return NULL;
	}
}

static uint8_t *
put16(uint8_t *p, unsigned int v)
{
	p[0] = (v >> 8) & 0xff;
	p[1] = v & 0xff;
	return p + 2;
}

int
tlshello_build(const struct tlshello_offer *o, uint8_t *buf, size_t size,
    size_t *len)
{
	uint8_t		*p, *rec, *hs, *ext = NULL;
	size_t		 i, hn = 0, need, nsuites;

	*len = 0;
	if (o->version < TLSHELLO_SSL3 || o->version > TLSHELLO_TLS12 ||
	    o->nsuites == 0 || o->nsuites > TLSHELLO_SUITES_MAX)
		return -1;
	if (o->extensions && o->servername != NULL) {
		hn = strlen(o->servername);
		if (hn == 0 || hn > 255)
			return -1;
	}
	nsuites = o->nsuites + (o->extensions ? 0 : 1);
	/* Record and handshake headers, the fixed fields, the suites. */
	need = 5 + 4 + 2 + 32 + 1 + 2 + 2 * nsuites + 2;
	if (o->extensions)
		need += 2 + (hn > 0 ? 4 + 5 + hn : 0) + 4 + 2 + 2 * NGROUPS +
		    4 + 2 + 4 + 2 + 2 * NSIGALGS + 4 + 1;
	if (need > size || need > TLSHELLO_MAX)
		return -1;

	p = rec = buf;
	*p++ = REC_HANDSHAKE;
	/* The record's version: what SSLv3 and TLS 1.0 servers all take. */
	p = put16(p, o->version == TLSHELLO_SSL3 ? TLSHELLO_SSL3 :
	    TLSHELLO_TLS10);
	p = put16(p, need - 5);
	hs = p;
	*p++ = HS_CLIENT_HELLO;
	*p++ = 0;
	p = put16(p, need - 9);
	p = put16(p, o->version);
	memcpy(p, o->random, 32);
	p += 32;
	*p++ = 0;			/* no session to resume */
	p = put16(p, 2 * nsuites);
	for (i = 0; i < o->nsuites; i++)
		p = put16(p, o->suites[i]);
	if (!o->extensions)
		p = put16(p, SCSV_RENEG);
	*p++ = 1;
	*p++ = 0;			/* null compression only */
	if (o->extensions) {
		ext = p;
		p += 2;
		if (hn > 0) {
			p = put16(p, EXT_SNI);
			p = put16(p, 5 + hn);
			p = put16(p, 3 + hn);
			*p++ = 0;	/* host_name */
			p = put16(p, hn);
			memcpy(p, o->servername, hn);
			p += hn;
		}
		p = put16(p, EXT_GROUPS);
		p = put16(p, 2 + 2 * NGROUPS);
		p = put16(p, 2 * NGROUPS);
		for (i = 0; i < NGROUPS; i++)
			p = put16(p, groups[i]);
		p = put16(p, EXT_POINTS);
		p = put16(p, 2);
		*p++ = 1;
		*p++ = 0;		/* uncompressed */
		p = put16(p, EXT_SIGALGS);
		p = put16(p, 2 + 2 * NSIGALGS);
		p = put16(p, 2 * NSIGALGS);
		for (i = 0; i < NSIGALGS; i++)
			p = put16(p, sigalgs[i]);
		p = put16(p, EXT_RENEG);
		p = put16(p, 1);
		*p++ = 0;		/* a first handshake */
		(void)put16(ext, (size_t)(p - ext) - 2);
	}
	if ((size_t)(p - rec) != need || (size_t)(p - hs) != need - 5)
		return -1;
	*len = need;
	return 0;
}

static int
bad(struct tlshello_answer *a, const char *fmt, ...)
{
	va_list	ap;

	a->kind = TLSHELLO_BAD;
	va_start(ap, fmt);
	if (vsnprintf(a->why, sizeof(a->why), fmt, ap) < 0)
		a->why[0] = '\0';
	va_end(ap);
	return TLSHELLO_BAD;
}

static int
offered(const struct tlshello_offer *o, uint16_t suite)
{
	size_t	i;

	if (suite == SCSV_RENEG || suite == SCSV_FALLBACK)
		return 0;
	for (i = 0; i < o->nsuites; i++)
		if (o->suites[i] == suite)
			return 1;
	return 0;
}

/* The body of a ServerHello, n octets: HELLO or BAD. */
static int
server_hello(const struct tlshello_offer *o, const uint8_t *p, size_t n,
    struct tlshello_answer *a)
{
	uint16_t	 seen[EXT_SEEN_MAX], type;
	size_t		 off, sid, elen, xl, nseen = 0, k;
	unsigned int	 v, suite, comp;

	if (n < 2 + 32 + 1 + 2 + 1)
		return bad(a, "a ServerHello of %zu octets: too short", n);
	v = (unsigned int)p[0] << 8 | p[1];
	sid = p[34];
	if (sid > 32)
		return bad(a, "a session id of %zu octets (at most 32)", sid);
	off = 35 + sid;
	if (off + 3 > n)
		return bad(a, "a ServerHello of %zu octets: too short for "
		    "its session id", n);
	suite = (unsigned int)p[off] << 8 | p[off + 1];
	comp = p[off + 2];
	off += 3;
	if (off < n) {
		if (n - off < 2)
			return bad(a, "one octet after the compression method");
		elen = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (elen != n - off)
			return bad(a, "extensions of %zu octets in the %zu "
			    "left", elen, n - off);
		while (off < n) {
			if (n - off < 4)
				return bad(a, "a cut extension header");
			type = (uint16_t)(p[off] << 8 | p[off + 1]);
			xl = (size_t)p[off + 2] << 8 | p[off + 3];
			off += 4;
			if (xl > n - off)
				return bad(a, "extension %u of %zu octets in "
				    "the %zu left", type, xl, n - off);
			off += xl;
			if (type == EXT_VERSIONS)
				return bad(a, "a TLS 1.3 supported_versions "
				    "extension, not offered");
			for (k = 0; k < nseen; k++)
				if (seen[k] == type)
					return bad(a, "extension %u twice",
					    type);
			if (nseen == EXT_SEEN_MAX)
				return bad(a, "more than %d extensions",
				    EXT_SEEN_MAX);
			seen[nseen++] = type;
		}
	}
	if ((v >> 8) != 3 || v > o->version)
		return bad(a, "version 0x%04x, not one offered (up to "
		    "0x%04x)", v, o->version);
	if (!offered(o, (uint16_t)suite))
		return bad(a, "suite 0x%04x, not offered", suite);
	if (comp != 0)
		return bad(a, "compression method %u, not offered", comp);
	a->kind = TLSHELLO_HELLO;
	a->version = (uint16_t)v;
	a->suite = (uint16_t)suite;
	return TLSHELLO_HELLO;
}

enum tlshello_kind
tlshello_parse(const struct tlshello_offer *o, const uint8_t *buf,
    size_t len, struct tlshello_answer *a)
{
	uint8_t		 hs[4 + TLSHELLO_SH_MAX];
	size_t		 off = 0, hsl = 0, rlen, take, mlen;
	unsigned int	 type, maj, min, warnings = 0;

	memset(a, 0, sizeof(*a));
	for (;;) {
		if (len - off < 5) {
			/* The first octet alone can tell garbage. */
			if (off < len && buf[off] != REC_ALERT &&
			    buf[off] != REC_HANDSHAKE)
				return bad(a, "not a TLS record: first octet "
				    "0x%02x", buf[off]);
			return TLSHELLO_MORE;
		}
		type = buf[off];
		maj = buf[off + 1];
		min = buf[off + 2];
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (type != REC_ALERT && type != REC_HANDSHAKE)
			return bad(a, "not a TLS record: %s 0x%02x%s",
			    type >= 20 && type <= 24 ? "record type" :
			    "first octet", type, type == 20 || type == 23 ?
			    " before the ServerHello" : "");
		if (maj != 3)
			return bad(a, "record version %u.%u", maj, min);
		if (rlen > TLSHELLO_RECORD_MAX)
			return bad(a, "a record of %zu octets (over %d)", rlen,
			    TLSHELLO_RECORD_MAX);
		if (rlen == 0)
			return bad(a, "an empty %s record", type == REC_ALERT ?
			    "alert" : "handshake");
		if (rlen > len - off - 5)
			return TLSHELLO_MORE;
		if (type == REC_ALERT) {
			if (hsl > 0)
				return bad(a, "an alert inside the "
				    "ServerHello");
			if (rlen != 2)
				return bad(a, "an alert record of %zu octets",
				    rlen);
			a->level = buf[off + 5];
			a->desc = buf[off + 6];
			if (a->level != 1 && a->level != 2)
				return bad(a, "alert level %u", a->level);
			/*
			 * A warning (unrecognized_name from a server without
			 * a name of ours) may come before a ServerHello;
			 * a warning close_notify or user_canceled ends it.
			 */
			if (a->level == 1 && a->desc != 0 && a->desc != 90) {
				if (++warnings > 4)
					return bad(a, "more than 4 warning "
					    "alerts");
				a->level = a->desc = 0;
				off += 5 + rlen;
				continue;
			}
			a->kind = TLSHELLO_ALERT;
			return TLSHELLO_ALERT;
		}
		take = rlen;
		if (take > sizeof(hs) - hsl)
			take = sizeof(hs) - hsl;
		memcpy(hs + hsl, buf + off + 5, take);
		hsl += take;
		off += 5 + rlen;
		if (hsl < 4)
			continue;
		if (hs[0] != HS_SERVER_HELLO)
			return bad(a, "handshake message type %u, not a "
			    "ServerHello", hs[0]);
		mlen = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
		if (mlen > TLSHELLO_SH_MAX)
			return bad(a, "a ServerHello of %zu octets (over %d)",
			    mlen, TLSHELLO_SH_MAX);
		if (hsl >= 4 + mlen)
			return server_hello(o, hs + 4, mlen, a);
	}
}
