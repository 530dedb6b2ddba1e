/*
 * Unit tests for the pure parts of src/server/queue/relay.c (dot-stuffing of the
 * spooled message, cut at every byte; what an EHLO reply offers; a reply
 * as stored) and for the relay directives of smtpauthd.conf(5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/reply.h"
#include "server/queue/relay.h"
#include "server/shared/config.h"

#include "crlfstrings.h"

/* Stuff in pieces cut at `cut` (0: whole), then the end of DATA. */
static size_t
stuff(const char *in, size_t len, size_t cut, char *out)
{
	struct relay_stuffer	s;
	size_t			o = 0;

	memset(&s, 0, sizeof(s));
	if (cut == 0 || cut >= len)
		o = relay_dotstuff(&s, in, len, out);
	else {
		o = relay_dotstuff(&s, in, cut, out);
		o += relay_dotstuff(&s, in + cut, len - cut, out + o);
	}
	o += relay_dotstuff_end(&s, out + o);
	out[o] = '\0';
	return o;
}

static void
test_dotstuff(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} table[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ ".a\r\n..b\r\nc.d\r\n", "..a\r\n...b\r\nc.d\r\n.\r\n" },
		{ "a\r\n.", "a\r\n..\r\n.\r\n" },
		{ "no end", "no end\r\n.\r\n" },
		{ "bare\nlf\n.x\n", "bare\r\nlf\r\n..x\r\n.\r\n" },
		{ "\r\n.\r\n", "\r\n..\r\n.\r\n" },
		/* A bare CR, spooled before BDAT refused it, leaves as CRLF. */
		{ "cr\ronly\r\n", "cr\r\nonly\r\n.\r\n" },
		{ "a\r.\rb", "a\r\n..\r\nb\r\n.\r\n" },
		{ "end\r", "end\r\n.\r\n" },
		{ "\r\r\n\n\r", "\r\n\r\n\r\n\r\n.\r\n" },
		{ "\r.\r\n", "\r\n..\r\n.\r\n" },
	};
	char	out[128];
	size_t	i, cut, len;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		len = strlen(table[i].in);
		for (cut = 0; cut <= len; cut++) {
			stuff(table[i].in, len, cut, out);
			if (strcmp(out, table[i].out) != 0)
				fail_msg("%zu cut %zu: got \"%s\"", i, cut,
				    out);
		}
	}
}

/* The worst cases fit the documented bound of 2 * len + 2. */
static void
test_dotstuff_bound(void **state)
{
	static const char *const pairs[] = { ".\n", "\r.", "\n." };
	struct relay_stuffer	s;
	char			in[64], out[2 * sizeof(in) + 2];
	size_t			i, k, n;

	for (k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		for (i = 0; i < sizeof(in); i += 2)
			memcpy(in + i, pairs[k], 2);
		memset(&s, 0, sizeof(s));
		/* A CR held back by the call before adds its CRLF. */
		relay_dotstuff(&s, "\r", 1, out);
		n = relay_dotstuff(&s, in, sizeof(in), out);
		assert_true(n <= sizeof(out));
	}
}

/*
 * Whatever the spool holds, the octets sent carry no bare CR or LF, and
 * a line "." (the end of DATA) comes only at the end: every string of up
 * to 7 octets over CR, LF, '.' and 'a', cut at every place.
 */
static void
test_dotstuff_never_bare(void **state)
{
	char	in[CRLF_STRINGS_MAX + 1], out[64];
	size_t	len = 0, code = 0, cut, o;

	while (crlf_string_next(in, &len, &code)) {
		for (cut = 0; cut <= len; cut++) {
			o = stuff(in, len, cut, out);
			if (crlf_bare(out, o) != 0)
				fail_msg("a bare CR/LF sent");
			assert_true(o >= 3 && memcmp(out + o - 3, ".\r\n", 3) == 0);
			out[o - 3] = '\0';
			if (strstr(out, "\r\n.\r\n") != NULL ||
			    strncmp(out, ".\r\n", 3) == 0)
				fail_msg("an early end of DATA");
		}
	}
}

static void
parse_reply(const char *text, struct reply_parser *p)
{
	size_t	used;

	reply_parser_init(p);
	assert_int_equal(reply_parse(p, text, strlen(text), &used),
	    REPLY_DONE);
}

static void
test_caps(void **state)
{
	struct reply_parser	p;
	struct relay_caps	c;

	parse_reply("250-mx.example Hello\r\n250-PIPELINING\r\n"
	    "250-SIZE 1000000\r\n250-8bitmime\r\n250-STARTTLS\r\n"
	    "250-AUTH LOGIN PLAIN CRAM-MD5\r\n250-SMTPUTF8\r\n"
	    "250 CHUNKING\r\n", &p);
	relay_caps_parse(&p.reply, &c);
	assert_true(c.esmtp);
	assert_true(c.pipelining);
	assert_true(c.size);
	assert_int_equal(c.size_max, 1000000);
	assert_true(c.eightbitmime);
	assert_true(c.starttls);
	assert_true(c.auth_plain);
	assert_true(c.auth_login);
	assert_true(c.smtputf8);
	reply_parser_free(&p);

	/* The first line is the greeting, not a keyword. */
	parse_reply("250-STARTTLS\r\n250 SIZE\r\n", &p);
	relay_caps_parse(&p.reply, &c);
	assert_false(c.starttls);
	assert_true(c.size);
	assert_int_equal(c.size_max, 0);
	assert_false(c.auth_plain);
	reply_parser_free(&p);

	parse_reply("250-x\r\n250-SIZE 12junk\r\n250 AUTH CRAM-MD5\r\n", &p);
	relay_caps_parse(&p.reply, &c);
	assert_int_equal(c.size_max, 0);
	assert_false(c.auth_plain);
	assert_false(c.auth_login);
	reply_parser_free(&p);

	parse_reply("250 mx.example\r\n", &p);
	relay_caps_parse(&p.reply, &c);
	assert_true(c.esmtp);
	assert_false(c.pipelining);
	reply_parser_free(&p);
}

static void
test_reply_text(void **state)
{
	struct reply_parser	p;
	char			out[RELAY_TEXT_MAX + 1], small[12];

	parse_reply("550-5.1.1 <x@y>: unknown\r\n550 5.1.1 see "
	    "https://example/x\r\n", &p);
	relay_reply_text(&p.reply, out, sizeof(out));
	assert_string_equal(out, "550 5.1.1 <x@y>: unknown 5.1.1 see "
	    "https://example/x");
	relay_reply_text(&p.reply, small, sizeof(small));
	assert_string_equal(small, "550 5.1.1 <");
	reply_parser_free(&p);
	parse_reply("421\r\n", &p);
	relay_reply_text(&p.reply, out, sizeof(out));
	assert_string_equal(out, "421");
	reply_parser_free(&p);
	parse_reply("451 caf\xc3\xa9\r\n", &p);
	relay_reply_text(&p.reply, out, sizeof(out));
	assert_string_equal(out, "451 caf??");
	reply_parser_free(&p);
}

#define BASE	"listen 127.0.0.1:2525 smtp\nspool /tmp/s\n"

static void
test_config(void **state)
{
	struct config	*c;
	char		 err[256];

	c = config_parse("t", BASE, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->relay_tls, RELAY_TLS_OPPORTUNISTIC);
	assert_int_equal(c->mx_port, 25);
	assert_int_equal(c->relay_max_connections, 20);
	assert_int_equal(c->relay_max_per_domain, 4);
	assert_int_equal(c->retry_min, 300);
	assert_int_equal(c->retry_max, 14400);
	assert_int_equal(c->queue_lifetime, 432000);
	assert_null(c->resolver);
	config_free(c);

	c = config_parse("t", BASE "relay-host smtp.example:587\n"
	    "relay-tls required\nrelay-ca-file /etc/ca.pem\n"
	    "relay-auth /etc/relay-auth\nresolver [::1]:5353\n"
	    "relay-max-connections 7\nrelay-max-per-domain 2\n"
	    "retry-min 1\nretry-max 2\nqueue-lifetime 30\n", err,
	    sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->relay_tls, RELAY_TLS_REQUIRED);
	assert_string_equal(c->relay_ca_file, "/etc/ca.pem");
	assert_string_equal(c->relay_auth, "/etc/relay-auth");
	assert_string_equal(c->resolver, "[::1]:5353");
	assert_int_equal(c->relay_port, 587);
	assert_int_equal(c->relay_max_connections, 7);
	assert_int_equal(c->relay_max_per_domain, 2);
	assert_int_equal(c->queue_lifetime, 30);
	config_free(c);

	/* implicit TLS without a port means 465. */
	c = config_parse("t", BASE "relay-tls implicit\n"
	    "relay-host smtp.example\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->relay_port, 465);
	config_free(c);

	c = config_parse("t", BASE "relay-port 2526\nresolver 127.0.0.1:53\n",
	    err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->mx_port, 2526);
	config_free(c);
}

static void
test_config_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} table[] = {
		{ BASE "relay-tls maybe\n", "t:3: relay-tls: expected "
		    "opportunistic, required, implicit or none, got \"maybe\"" },
		{ BASE "relay-auth /x\n", "t: relay-auth requires relay-host" },
		{ BASE "relay-host a.example\nrelay-auth /x\n",
		    "t: relay-auth requires relay-tls required or implicit" },
		{ BASE "relay-tls implicit\n",
		    "t: relay-tls implicit requires relay-host" },
		{ BASE "relay-host a.example\nrelay-port 25\n",
		    "t: relay-port is for MX hosts: with relay-host, give the "
		    "port there" },
		{ BASE "relay-port 0\n", "t:3: relay-port: bad port \"0\"" },
		{ BASE "resolver 127.0.0.1\n", "t:3: resolver: expected "
		    "ADDRESS:PORT (an IPv6 address in brackets), got "
		    "\"127.0.0.1\"" },
		{ BASE "resolver ::1:53\n", "t:3: resolver: expected "
		    "ADDRESS:PORT (an IPv6 address in brackets), got "
		    "\"::1:53\"" },
		{ BASE "resolver dns.example:53\n",
		    "t:3: resolver: bad address or port \"dns.example:53\"" },
		{ BASE "resolver 127.0.0.1:0\n",
		    "t:3: resolver: bad address or port \"127.0.0.1:0\"" },
		{ BASE "retry-min 10\nretry-max 5\n",
		    "t: retry-min 10 is above retry-max 5" },
		{ BASE "retry-min 0\n", "t:3: retry-min: expected a number "
		    "from 1 to 31536000" },
		{ BASE "relay-max-connections 0\n", "t:3: "
		    "relay-max-connections: expected a number from 1 to "
		    "10000" },
		{ BASE "queue-lifetime 1\nqueue-lifetime 2\n", "t:4: "
		    "queue-lifetime: already given on line 3" },
	};
	char	err[256];
	size_t	i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (config_parse("t", table[i].text, err, sizeof(err)) !=
		    NULL)
			fail_msg("accepted: %s", table[i].text);
		if (strcmp(err, table[i].err) != 0)
			fail_msg("%zu: got \"%s\"", i, err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotstuff),
		cmocka_unit_test(test_dotstuff_bound),
		cmocka_unit_test(test_dotstuff_never_bare),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_reply_text),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
