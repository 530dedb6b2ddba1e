/*
 * Unit tests for src/server/shared/config.c: good files, a table of bad files with
 * their exact "name:LINE: reason" messages, and CIDR matching.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/shared/config.h"

/* The smallest valid file: one listener and a spool. */
#define MINIMAL	"listen 127.0.0.1:2525 smtp\nspool /var/spool/smtpauthd\n"

static const char full_conf[] =
    "# Every directive, with comments in all the places they may go.\n"
    "\n"
    "hostname mx.example.org	# the greeting name\n"
    "listen 127.0.0.1:25 smtp\n"
    "listen [::1]:587 submission\n"
    "   listen\t0.0.0.0:465   smtps   proxy   \n"
    "listen [::]:2525 smtp proxy\n"
    "tls-cert /etc/ssl/mx.pem\n"
    "tls-key /etc/ssl/private/mx.key\n"
    "users /etc/smtpauthd/users\n"
    "local-domains Example.ORG example.net\n"
    "local-domains mail.example.com example.org\n"
    "mailbox-root /var/mail/vhosts\n"
    "spool /var/spool/smtpauthd\n"
    "relay-host smarthost.Example.net:587\n"
    "auth-over-plaintext yes\n"
    "max-message-size 10M\n"
    "auth-max-failures 3\n"
    "auth-window 60\n"
    "auth-ban 120\n"
    "auth-failure-delay 0\n"
    "auth-exempt 10.0.0.0/8 192.168.1.7\n"
    "auth-exempt 2001:db8::/32\n"
    "sender-login-match no\n"
    "workers 4\n"
    "user _smtpauthd\n"
    "max-recipients 50\n"
    "max-errors 5\n"
    "max-sessions 200\n"
    "max-sessions-per-ip 7\n"
    "command-timeout 30\n"
    "data-timeout 90 # seconds\n"
    "proxy-from 192.0.2.10 2001:db8:5::/48\n"
    "proxy-from 198.51.100.0/24\n"
    "proxy-timeout 2\n"
    "#listen 127.0.0.2:25 smtp\n";

static void
test_full(void **state)
{
	struct config		*c;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			 err[256];

	c = config_parse("full.conf", full_conf, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->path, "full.conf");
	assert_string_equal(c->hostname, "mx.example.org");

	assert_int_equal(c->nlistens, 4);
	assert_string_equal(c->listens[0].text, "127.0.0.1:25");
	assert_int_equal(c->listens[0].mode, LISTEN_SMTP);
	assert_int_equal(c->listens[0].proxy, 0);
	assert_int_equal(c->listens[0].addrlen, sizeof(sin));
	memcpy(&sin, &c->listens[0].addr, sizeof(sin));
	assert_int_equal(sin.sin_family, AF_INET);
	assert_int_equal(ntohs(sin.sin_port), 25);
	assert_int_equal(ntohl(sin.sin_addr.s_addr), 0x7f000001);

	assert_string_equal(c->listens[1].text, "[::1]:587");
	assert_int_equal(c->listens[1].mode, LISTEN_SUBMISSION);
	assert_int_equal(c->listens[1].addrlen, sizeof(sin6));
	memcpy(&sin6, &c->listens[1].addr, sizeof(sin6));
	assert_int_equal(sin6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6.sin6_port), 587);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr));

	assert_string_equal(c->listens[2].text, "0.0.0.0:465");
	assert_int_equal(c->listens[2].mode, LISTEN_SMTPS);
	assert_int_equal(c->listens[2].proxy, 1);
	assert_string_equal(c->listens[3].text, "[::]:2525");
	assert_int_equal(c->listens[3].proxy, 1);

	assert_int_equal(c->ntls_cert, 1);
	assert_string_equal(c->tls_cert[0], "/etc/ssl/mx.pem");
	assert_string_equal(c->tls_key[0], "/etc/ssl/private/mx.key");
	assert_string_equal(c->users, "/etc/smtpauthd/users");

	/* Lower-cased, and example.org kept once. */
	assert_int_equal(c->nlocal_domains, 3);
	assert_string_equal(c->local_domains[0], "example.org");
	assert_string_equal(c->local_domains[1], "example.net");
	assert_string_equal(c->local_domains[2], "mail.example.com");
	assert_true(config_is_local_domain(c, "EXAMPLE.org"));
	assert_true(config_is_local_domain(c, "mail.example.COM"));
	assert_false(config_is_local_domain(c, "example.com"));
	assert_false(config_is_local_domain(c, "xexample.org"));
	assert_false(config_is_local_domain(c, ""));

	assert_string_equal(c->mailbox_root, "/var/mail/vhosts");
	assert_string_equal(c->spool, "/var/spool/smtpauthd");
	assert_string_equal(c->relay_host, "smarthost.Example.net:587");
	assert_string_equal(c->relay_name, "smarthost.example.net");
	assert_int_equal(c->relay_port, 587);
	assert_int_equal(c->auth_over_plaintext, 1);
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->auth_max_failures, 3);
	assert_int_equal(c->auth_window, 60);
	assert_int_equal(c->auth_ban, 120);
	assert_int_equal(c->auth_failure_delay, 0);
	assert_int_equal(c->nauth_exempt, 3);
	assert_int_equal(c->auth_exempt[0].family, AF_INET);
	assert_int_equal(c->auth_exempt[0].prefix, 8);
	assert_int_equal(c->auth_exempt[1].prefix, 32);
	assert_int_equal(c->auth_exempt[2].family, AF_INET6);
	assert_int_equal(c->auth_exempt[2].prefix, 32);
	assert_int_equal(c->sender_login_match, 0);
	assert_int_equal(c->workers, 4);
	assert_string_equal(c->user, "_smtpauthd");
	assert_int_equal(c->max_recipients, 50);
	assert_int_equal(c->max_errors, 5);
	assert_int_equal(c->max_sessions, 200);
	assert_int_equal(c->max_sessions_per_ip, 7);
	assert_int_equal(c->command_timeout, 30);
	assert_int_equal(c->data_timeout, 90);
	assert_int_equal(c->nproxy_from, 3);
	assert_int_equal(c->proxy_from[0].prefix, 32);
	assert_int_equal(c->proxy_from[1].family, AF_INET6);
	assert_int_equal(c->proxy_from[1].prefix, 48);
	assert_int_equal(c->proxy_from[2].prefix, 24);
	assert_int_equal(c->proxy_timeout, 2);
	config_free(c);
}

static void
test_defaults(void **state)
{
	struct config	*c;
	char		 err[256], host[256];
	long		 ncpu;

	c = config_parse("min.conf", MINIMAL, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(err, "");

	if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
		host[sizeof(host) - 1] = '\0';
		assert_string_equal(c->hostname, host);
	} else
		assert_string_equal(c->hostname, "localhost");

	assert_int_equal(c->nlistens, 1);
	assert_int_equal(c->ntls_cert, 0);
	assert_int_equal(c->ntls_key, 0);
	assert_null(c->users);
	assert_int_equal(c->nlocal_domains, 0);
	assert_false(config_is_local_domain(c, "example.org"));
	assert_null(c->mailbox_root);
	assert_null(c->relay_host);
	assert_null(c->relay_name);
	assert_int_equal(c->relay_port, 0);
	assert_int_equal(c->auth_over_plaintext, 0);
	assert_int_equal(c->max_message_size, CONF_DEFAULT_MAX_MESSAGE_SIZE);
	assert_int_equal(c->max_message_size, 35882577);
	assert_int_equal(c->auth_max_failures, CONF_DEFAULT_AUTH_MAX_FAILURES);
	assert_int_equal(c->auth_window, CONF_DEFAULT_AUTH_WINDOW);
	assert_int_equal(c->auth_ban, CONF_DEFAULT_AUTH_BAN);
	assert_int_equal(c->ban_ipv6_prefix, 64);
	assert_int_equal(c->ban_table_size, 16384);
	assert_int_equal(c->auth_failure_delay,
	    CONF_DEFAULT_AUTH_FAILURE_DELAY);
	assert_int_equal(c->nauth_exempt, 0);
	assert_int_equal(c->sender_login_match, 1);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 256)
		ncpu = 256;
	assert_int_equal(c->workers, ncpu);
	assert_null(c->user);
	assert_int_equal(c->max_recipients, CONF_DEFAULT_MAX_RECIPIENTS);
	assert_int_equal(c->max_errors, CONF_DEFAULT_MAX_ERRORS);
	assert_int_equal(c->max_sessions, CONF_DEFAULT_MAX_SESSIONS);
	assert_int_equal(c->max_sessions_per_ip,
	    CONF_DEFAULT_MAX_SESSIONS_PER_IP);
	assert_int_equal(c->command_timeout, CONF_DEFAULT_COMMAND_TIMEOUT);
	assert_int_equal(c->data_timeout, CONF_DEFAULT_DATA_TIMEOUT);
	assert_int_equal(c->nproxy_from, 0);
	assert_int_equal(c->proxy_timeout, CONF_DEFAULT_PROXY_TIMEOUT);
	config_free(c);
}

/* Small good files, each checked by a function of the result. */
struct good_case {
	const char	*text;
	const char	*field;		/* what to check */
	const char	*want;		/* the expected value, as text */
};

static const struct good_case good_cases[] = {
	/* Line endings, blank lines, comments, whitespace. */
	{ "listen 127.0.0.1:25 smtp\r\nspool /s\r\n", "listen0", "127.0.0.1:25" },
	{ "  \t\n# c\n\t#c\nlisten 127.0.0.1:25 smtp#c\nspool /s#x", "spool", "/s" },
	{ "listen 127.0.0.1:25 smtp\nspool /s", "spool", "/s" },
	/* Normalised listener text. */
	{ "listen [0:0::0:1]:02525 smtp\nspool /s\n", "listen0", "[::1]:2525" },
	{ "listen [2001:DB8::1]:25 smtp\nspool /s\n", "listen0",
	    "[2001:db8::1]:25" },
	{ "listen 0.0.0.0:65535 submission\nspool /s\n", "listen0",
	    "0.0.0.0:65535" },
	{ "listen [::ffff:127.0.0.1]:25 smtp\nspool /s\n", "listen0",
	    "[::ffff:127.0.0.1]:25" },
	/* Sizes. */
	{ MINIMAL "max-message-size 1\n", "size", "1" },
	{ MINIMAL "max-message-size 1024\n", "size", "1024" },
	{ MINIMAL "max-message-size 64k\n", "size", "65536" },
	{ MINIMAL "max-message-size 64K\n", "size", "65536" },
	{ MINIMAL "max-message-size 2m\n", "size", "2097152" },
	{ MINIMAL "max-message-size 1G\n", "size", "1073741824" },
	{ MINIMAL "max-message-size 1024G\n", "size", "1099511627776" },
	{ MINIMAL "max-message-size 1099511627776\n", "size",
	    "1099511627776" },
	/* Relay hosts. */
	{ MINIMAL "relay-host smtp.example.net\n", "relay", "smtp.example.net 25" },
	{ MINIMAL "relay-host 192.0.2.1:2525\n", "relay", "192.0.2.1 2525" },
	{ MINIMAL "relay-host [2001:db8::25]\n", "relay", "2001:db8::25 25" },
	{ MINIMAL "relay-host [2001:db8::25]:587\n", "relay",
	    "2001:db8::25 587" },
	{ MINIMAL "relay-host localhost:10025\n", "relay", "localhost 10025" },
	/* Numbers at the ends of their ranges. */
	{ MINIMAL "workers 1\n", "workers", "1" },
	{ MINIMAL "workers 256\n", "workers", "256" },
	{ MINIMAL "workers 0008\n", "workers", "8" },
	{ MINIMAL "auth-failure-delay 60000\n", "delay", "60000" },
	{ MINIMAL "ban-ipv6-prefix 32\n", "prefix6", "32" },
	{ MINIMAL "ban-ipv6-prefix 128\n", "prefix6", "128" },
	{ MINIMAL "ban-table-size 1\n", "bantable", "1" },
	{ MINIMAL "ban-table-size 1048576\n", "bantable", "1048576" },
	/* Host names. */
	{ MINIMAL "hostname localhost\n", "hostname", "localhost" },
	{ MINIMAL "hostname a-b.c0.example\n", "hostname", "a-b.c0.example" },
	/* Local domains, on several lines, lower-cased, in order. */
	{ "listen 127.0.0.1:25 smtp\nspool /s\nusers /u\nmailbox-root /m\n"
	    "local-domains A.example\nlocal-domains b.EXAMPLE c.example\n",
	    "domains", "a.example b.example c.example" },
	/* smtps with a certificate. */
	{ "listen 127.0.0.1:465 smtps\nspool /s\ntls-cert c\ntls-key k\n",
	    "listen0", "127.0.0.1:465" },
};

static void
format_field(const struct config *c, const char *field, char *buf,
    size_t len)
{
	size_t	i, off;

	buf[0] = '\0';
	if (strcmp(field, "listen0") == 0)
		snprintf(buf, len, "%s", c->listens[0].text);
	else if (strcmp(field, "spool") == 0)
		snprintf(buf, len, "%s", c->spool);
	else if (strcmp(field, "size") == 0)
		snprintf(buf, len, "%llu",
		    (unsigned long long)c->max_message_size);
	else if (strcmp(field, "relay") == 0)
		snprintf(buf, len, "%s %u", c->relay_name,
		    (unsigned)c->relay_port);
	else if (strcmp(field, "workers") == 0)
		snprintf(buf, len, "%u", c->workers);
	else if (strcmp(field, "delay") == 0)
		snprintf(buf, len, "%u", c->auth_failure_delay);
	else if (strcmp(field, "prefix6") == 0)
		snprintf(buf, len, "%u", c->ban_ipv6_prefix);
	else if (strcmp(field, "bantable") == 0)
		snprintf(buf, len, "%u", c->ban_table_size);
	else if (strcmp(field, "hostname") == 0)
		snprintf(buf, len, "%s", c->hostname);
	else if (strcmp(field, "domains") == 0) {
		for (i = 0, off = 0; i < c->nlocal_domains; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
			    i > 0 ? " " : "", c->local_domains[i]);
	} else
		fail_msg("unknown field %s", field);
}

static void
test_good_table(void **state)
{
	const struct good_case	*g;
	struct config		*c;
	char			 err[256], got[256];
	size_t			 i;

	for (i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		g = &good_cases[i];
		c = config_parse("good.conf", g->text, err, sizeof(err));
		if (c == NULL)
			fail_msg("case %zu: %s", i, err);
		format_field(c, g->field, got, sizeof(got));
		if (strcmp(got, g->want) != 0)
			fail_msg("case %zu: %s is \"%s\", want \"%s\"", i,
			    g->field, got, g->want);
		config_free(c);
	}
}

struct bad_case {
	const char	*text;
	const char	*want;		/* exact error message */
};

#define L	"listen 127.0.0.1:25 smtp\n"
#define S	"spool /s\n"

static const struct bad_case bad_cases[] = {
	{ L S "lisen 127.0.0.1:25 smtp\n",
	    "bad.conf:3: unknown directive \"lisen\"" },
	{ L S "Listen 127.0.0.1:26 smtp\n",
	    "bad.conf:3: unknown directive \"Listen\"" },
	{ S "\n\n\nlisten 127.0.0.1:99999 smtp\n",
	    "bad.conf:5: listen: bad port \"99999\"" },
	{ S "listen 127.0.0.1:0 smtp\n", "bad.conf:2: listen: bad port \"0\"" },
	{ S "listen 127.0.0.1:+25 smtp\n",
	    "bad.conf:2: listen: bad port \"+25\"" },
	{ S "listen 127.0.0.1:25x smtp\n",
	    "bad.conf:2: listen: bad port \"25x\"" },
	{ S "listen 127.0.0.1: smtp\n", "bad.conf:2: listen: bad port \"\"" },
	{ S "listen 127.0.0.1 smtp\n",
	    "bad.conf:2: listen: missing port in \"127.0.0.1\"" },
	{ S "listen [::1] smtp\n",
	    "bad.conf:2: listen: missing port in \"[::1]\"" },
	{ S "listen [::1:25 smtp\n", "bad.conf:2: listen: bad address \"[::1:25\"" },
	{ S "listen ::1:25 smtp\n",
	    "bad.conf:2: listen: an IPv6 address must be in brackets, as in "
	    "[::1]:25: \"::1:25\"" },
	{ S "listen localhost:25 smtp\n",
	    "bad.conf:2: listen: bad address \"localhost\"" },
	{ S "listen 127.0.0.256:25 smtp\n",
	    "bad.conf:2: listen: bad address \"127.0.0.256\"" },
	{ S "listen [127.0.0.1]:25 smtp\n",
	    "bad.conf:2: listen: bad IPv6 address \"127.0.0.1\"" },
	{ S "listen 127.0.0.1:25 lmtp\n",
	    "bad.conf:2: listen: unknown mode \"lmtp\" (expected smtp, "
	    "submission or smtps)" },
	{ S "listen 127.0.0.1:25 smtp haproxy\n",
	    "bad.conf:2: listen: unknown option \"haproxy\" (expected proxy)" },
	{ S "listen 127.0.0.1:25 smtp proxy extra\n",
	    "bad.conf:2: listen: too many arguments" },
	{ S "listen 127.0.0.1:25\n", "bad.conf:2: listen: missing argument" },
	{ S "listen\n", "bad.conf:2: listen: missing argument" },
	{ L S "listen 127.0.0.1:025 submission\n",
	    "bad.conf:3: listen: 127.0.0.1:25 given twice" },
	{ L S "workers 0\n",
	    "bad.conf:3: workers: expected a number from 1 to 256" },
	{ L S "workers 257\n",
	    "bad.conf:3: workers: expected a number from 1 to 256" },
	{ L S "workers -1\n",
	    "bad.conf:3: workers: expected a number from 1 to 256" },
	{ L S "workers 4x\n",
	    "bad.conf:3: workers: expected a number from 1 to 256" },
	{ L S "workers 99999999999999999999999\n",
	    "bad.conf:3: workers: expected a number from 1 to 256" },
	{ L S "workers\n", "bad.conf:3: workers: missing argument" },
	{ L S "workers 2 3\n", "bad.conf:3: workers: too many arguments" },
	{ L S "workers 2\nworkers 3\n",
	    "bad.conf:4: workers: already given on line 3" },
	{ L S "spool /t\n", "bad.conf:3: spool: already given on line 2" },
	{ L S "hostname a\nhostname b\n",
	    "bad.conf:4: hostname: already given on line 3" },
	{ L S "hostname bad_name\n",
	    "bad.conf:3: hostname: bad host name \"bad_name\"" },
	{ L S "hostname -a.example\n",
	    "bad.conf:3: hostname: bad host name \"-a.example\"" },
	{ L S "hostname a..example\n",
	    "bad.conf:3: hostname: bad host name \"a..example\"" },
	{ L S "hostname example.\n",
	    "bad.conf:3: hostname: bad host name \"example.\"" },
	{ L S "auth-max-failures 0\n",
	    "bad.conf:3: auth-max-failures: expected a number from 1 to "
	    "1000000" },
	{ L S "auth-window 0\n",
	    "bad.conf:3: auth-window: expected a number from 1 to 31536000" },
	{ L S "auth-ban 1.5\n",
	    "bad.conf:3: auth-ban: expected a number from 1 to 31536000" },
	{ L S "auth-failure-delay 60001\n",
	    "bad.conf:3: auth-failure-delay: expected a number from 0 to "
	    "60000" },
	{ L S "ban-ipv6-prefix 31\n",
	    "bad.conf:3: ban-ipv6-prefix: expected a number from 32 to 128" },
	{ L S "ban-ipv6-prefix 129\n",
	    "bad.conf:3: ban-ipv6-prefix: expected a number from 32 to 128" },
	{ L S "ban-table-size 0\n",
	    "bad.conf:3: ban-table-size: expected a number from 1 to "
	    "1048576" },
	{ L S "ban-table-size 1048577\n",
	    "bad.conf:3: ban-table-size: expected a number from 1 to "
	    "1048576" },
	{ L S "max-recipients 0\n",
	    "bad.conf:3: max-recipients: expected a number from 1 to 1000000" },
	{ L S "max-errors x\n",
	    "bad.conf:3: max-errors: expected a number from 1 to 1000000" },
	{ L S "max-sessions 1000001\n",
	    "bad.conf:3: max-sessions: expected a number from 1 to 1000000" },
	{ L S "max-sessions-per-ip 0\n",
	    "bad.conf:3: max-sessions-per-ip: expected a number from 1 to "
	    "1000000" },
	{ L S "command-timeout 86401\n",
	    "bad.conf:3: command-timeout: expected a number from 1 to 86400" },
	{ L S "data-timeout 0\n",
	    "bad.conf:3: data-timeout: expected a number from 1 to 86400" },
	{ L S "max-message-size 0\n",
	    "bad.conf:3: max-message-size: expected a number of bytes from 1 "
	    "to 1099511627776, optionally with a K, M or G suffix" },
	{ L S "max-message-size 1025G\n",
	    "bad.conf:3: max-message-size: expected a number of bytes from 1 "
	    "to 1099511627776, optionally with a K, M or G suffix" },
	{ L S "max-message-size 10MB\n",
	    "bad.conf:3: max-message-size: expected a number of bytes from 1 "
	    "to 1099511627776, optionally with a K, M or G suffix" },
	{ L S "max-message-size M\n",
	    "bad.conf:3: max-message-size: expected a number of bytes from 1 "
	    "to 1099511627776, optionally with a K, M or G suffix" },
	{ L S "auth-over-plaintext true\n",
	    "bad.conf:3: auth-over-plaintext: expected yes or no, got "
	    "\"true\"" },
	{ L S "sender-login-match YES\n",
	    "bad.conf:3: sender-login-match: expected yes or no, got "
	    "\"YES\"" },
	{ L S "auth-exempt 10.0.0.0/33\n",
	    "bad.conf:3: auth-exempt: bad address or CIDR block "
	    "\"10.0.0.0/33\"" },
	{ L S "auth-exempt 10.0.0.0/8 ::1/129\n",
	    "bad.conf:3: auth-exempt: bad address or CIDR block \"::1/129\"" },
	{ L S "auth-exempt 10.0.0/8\n",
	    "bad.conf:3: auth-exempt: bad address or CIDR block "
	    "\"10.0.0/8\"" },
	{ L S "auth-exempt 10.0.0.0/\n",
	    "bad.conf:3: auth-exempt: bad address or CIDR block "
	    "\"10.0.0.0/\"" },
	{ L S "auth-exempt\n", "bad.conf:3: auth-exempt: missing argument" },
	{ L S "local-domains\n", "bad.conf:3: local-domains: missing argument" },
	{ L S "local-domains a.example b_c.example\n",
	    "bad.conf:3: local-domains: bad domain \"b_c.example\"" },
	{ L S "local-domains [127.0.0.1]\n",
	    "bad.conf:3: local-domains: bad domain \"[127.0.0.1]\"" },
	{ L S "relay-host a.example:0\n",
	    "bad.conf:3: relay-host: bad port \"0\"" },
	{ L S "relay-host a.example:\n", "bad.conf:3: relay-host: bad port \"\"" },
	{ L S "relay-host a_b.example\n",
	    "bad.conf:3: relay-host: bad host \"a_b.example\"" },
	{ L S "relay-host [a.example]:25\n",
	    "bad.conf:3: relay-host: bad host \"a.example\"" },
	{ L S "relay-host [::1\n", "bad.conf:3: relay-host: bad host \"[::1\"" },
	{ L S "relay-host 2001:db8::1\n",
	    "bad.conf:3: relay-host: an IPv6 address must be in brackets, as "
	    "in [2001:db8::1]:25: \"2001:db8::1\"" },
	{ L S "relay-host a b\n", "bad.conf:3: relay-host: too many arguments" },
	{ L S "tls-cert\n", "bad.conf:3: tls-cert: missing argument" },
	{ L S "user a b\n", "bad.conf:3: user: too many arguments" },
	{ L S "users /u\nusers /v\n",
	    "bad.conf:4: users: already given on line 3" },
	{ L S "user\001x\n", "bad.conf:3: unexpected control character 0x01" },
	/* Whole-file checks. */
	{ "", "bad.conf: no listen directive" },
	{ "# nothing\n" S, "bad.conf: no listen directive" },
	{ L, "bad.conf: spool is required" },
	{ L S "users /u\nlocal-domains a.example\n",
	    "bad.conf: local-domains requires mailbox-root" },
	{ L S "mailbox-root /m\nlocal-domains a.example\n",
	    "bad.conf: local-domains requires users (or an account store: "
	    "dovecot-userdb, auth-backend ldap)" },
	{ L S "mailbox-root /m\ndovecot-userdb unix:/u\n",
	    "bad.conf: dovecot-userdb requires auth-backend dovecot" },
	{ L S "ldap-recipient-filter (mail=x)\n",
	    "bad.conf: ldap-recipient-filter must contain %u or %n" },
	{ L S "dovecot-userdb tcp:x\n",
	    "bad.conf:3: dovecot-userdb: expected unix:PATH or inet:HOST:PORT, "
	    "got \"tcp:x\"" },
	{ L S "recipient-cache-ttl 86401\n",
	    "bad.conf:3: recipient-cache-ttl: expected a number from 0 to 86400" },
	{ L S "tls-cert /c\n", "bad.conf: tls-cert requires tls-key" },
	{ L S "tls-key /k\n", "bad.conf: tls-key requires tls-cert" },
	{ L S "tls-ticket-keys /k\n",
	    "bad.conf: tls-ticket-keys requires tls-cert" },
	{ L S "guard-store redis://127.0.0.1:6379/x\n",
	    "bad.conf:3: guard-store: bad database number" },
#define SEND_LIMIT_ERR ": expected COUNT/SECONDS, COUNT from 1 to 1000000, " \
	"SECONDS from 1 to 31536000"
	{ L S "send-limit 100\n", "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit 0/60\n", "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit 10/0\n", "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit /60\n", "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit 10/60s\n", "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit 1000001/60\n",
	    "bad.conf:3: send-limit" SEND_LIMIT_ERR },
	{ L S "send-limit-recipients 5/31536001\n",
	    "bad.conf:3: send-limit-recipients" SEND_LIMIT_ERR },
	{ L S "send-limit 5/60\nsend-limit 6/60\n",
	    "bad.conf:4: send-limit: already given on line 3" },
	{ L S "listen [::1]:465 smtps\n",
	    "bad.conf: listen [::1]:465 smtps requires tls-cert" },
	/* The line of the listener, though the check runs at the end. */
	{ L S "listen 127.0.0.1:2525 submission proxy\nworkers 2\n",
	    "bad.conf:3: listen 127.0.0.1:2525 submission proxy needs "
	    "proxy-from" },
	{ L S "proxy-from 10.0.0.0/33\n",
	    "bad.conf:3: proxy-from: bad address or CIDR block "
	    "\"10.0.0.0/33\"" },
	{ L S "proxy-timeout 0\n",
	    "bad.conf:3: proxy-timeout: expected a number from 1 to 3600" },
};

static void
test_bad_table(void **state)
{
	const struct bad_case	*b;
	struct config		*c;
	char			 err[512];
	size_t			 i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		b = &bad_cases[i];
		memset(err, 'x', sizeof(err));
		c = config_parse("bad.conf", b->text, err, sizeof(err));
		if (c != NULL) {
			config_free(c);
			fail_msg("case %zu: accepted, want \"%s\"", i, b->want);
		}
		if (strcmp(err, b->want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    b->want);
	}
}

static void
test_long_line(void **state)
{
	struct config	*c;
	char		*text;
	char		 err[256];
	size_t		 n;

	/* A line of exactly 4096 bytes is accepted (as a comment here). */
	n = strlen(MINIMAL);
	text = malloc(n + 4096 + 2);
	assert_non_null(text);
	memcpy(text, MINIMAL, n);
	text[n] = '#';
	memset(text + n + 1, 'a', 4095);
	text[n + 4096] = '\n';
	text[n + 4097] = '\0';
	c = config_parse("long.conf", text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	config_free(c);

	/* One more byte is an error, even without a newline at the end. */
	text[n + 4096] = 'a';
	c = config_parse("long.conf", text, err, sizeof(err));
	assert_null(c);
	assert_string_equal(err, "long.conf:3: line too long (more than 4096 "
	    "bytes)");
	free(text);
}

static void
test_many_words(void **state)
{
	struct config	*c;
	char		*text;
	char		 err[256];
	size_t		 n, i;

	/* The most words a line can hold: "local-domains a a a ...". */
	text = malloc(8192);
	assert_non_null(text);
	n = (size_t)snprintf(text, 8192, "%s", "listen 127.0.0.1:25 smtp\n"
	    "spool /s\nusers /u\nmailbox-root /m\nlocal-domains");
	for (i = 0; i < 2040; i++) {
		text[n++] = ' ';
		text[n++] = 'a';
	}
	text[n++] = '\n';
	text[n] = '\0';
	c = config_parse("words.conf", text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->nlocal_domains, 1);
	config_free(c);
	free(text);
}

/* A small err buffer truncates the message but still terminates it. */
static void
test_small_err(void **state)
{
	char	err[8];

	assert_null(config_parse("bad.conf", "lisen x\n", err, sizeof(err)));
	assert_string_equal(err, "bad.con");
	assert_null(config_parse("bad.conf", "lisen x\n", NULL, 0));
	assert_null(config_parse(NULL, "", err, sizeof(err)));
}

static char *
write_temp(const char *data, size_t len)
{
	char	*path;
	int	 fd;

	path = strdup("/tmp/test_config.XXXXXX");
	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

static void
test_load(void **state)
{
	static const char	 nul[] = L S "user a\0b\n";
	struct config		*c;
	char			*path;
	char			 err[512], want[512];

	path = write_temp(full_conf, strlen(full_conf));
	c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->path, path);
	assert_int_equal(c->nlistens, 4);
	config_free(c);

	/* An error names the file. */
	assert_int_equal(truncate(path, 0), 0);
	assert_null(config_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: no listen directive", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);

	/* A NUL byte does not silently end the line. */
	path = write_temp(nul, sizeof(nul) - 1);
	assert_null(config_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: unexpected control character "
	    "0x00", path);
	assert_string_equal(err, want);

	/* The file goes away. */
	unlink(path);
	assert_null(config_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: cannot open: No such file or "
	    "directory", path);
	assert_string_equal(err, want);
	free(path);

	assert_null(config_load("/", err, sizeof(err)));
	assert_string_equal(err, "/: cannot read: Is a directory");
}

static void
test_load_too_large(void **state)
{
	struct config	*c;
	char		*text, *path;
	char		 err[512], want[512];
	size_t		 n = 1024 * 1024;

	/* A file of exactly the limit is read; one byte more is refused. */
	text = malloc(n + 1);
	assert_non_null(text);
	memset(text, '\n', n + 1);
	memcpy(text, MINIMAL, strlen(MINIMAL));
	path = write_temp(text, n);
	c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	config_free(c);
	unlink(path);
	free(path);

	path = write_temp(text, n + 1);
	assert_null(config_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: file too large (more than 1048576 "
	    "bytes)", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);
	free(text);
}

/* smtpauthd -n: the account of "user" must exist, named by its line. */
static void
test_check_user(void **state)
{
	struct config	*c;
	char		 err[256];

	c = config_parse("u.conf", L S "user root\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(config_check_user(c, err, sizeof(err)), 0);
	config_free(c);

	c = config_parse("u.conf", L S "\nuser smtpauth-no-such-user\n", err,
	    sizeof(err));
	assert_non_null(c);
	assert_int_equal(config_check_user(c, err, sizeof(err)), -1);
	assert_string_equal(err, "u.conf:4: no such user "
	    "smtpauth-no-such-user");
	config_free(c);

	/* Without the directive there is nothing to check. */
	c = config_parse("u.conf", L S, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(config_check_user(c, err, sizeof(err)), 0);
	config_free(c);
}

static void
test_misc(void **state)
{
	config_free(NULL);
	assert_string_equal(listen_mode_name(LISTEN_SMTP), "smtp");
	assert_string_equal(listen_mode_name(LISTEN_SUBMISSION), "submission");
	assert_string_equal(listen_mode_name(LISTEN_SMTPS), "smtps");
	assert_false(config_is_local_domain(NULL, "a"));
}

struct cidr_case {
	const char	*blocks;	/* auth-exempt arguments */
	const char	*addr;		/* IPv4 or IPv6 text */
	int		 want;
};

static const struct cidr_case cidr_cases[] = {
	{ "10.0.0.0/8", "10.1.2.3", 1 },
	{ "10.0.0.0/8", "11.0.0.0", 0 },
	{ "10.0.0.0/8", "9.255.255.255", 0 },
	{ "10.1.2.3/8", "10.200.0.1", 1 },	/* host bits ignored */
	{ "192.168.1.7", "192.168.1.7", 1 },
	{ "192.168.1.7", "192.168.1.6", 0 },
	{ "192.168.1.0/25", "192.168.1.127", 1 },
	{ "192.168.1.0/25", "192.168.1.128", 0 },
	{ "192.168.1.4/31", "192.168.1.5", 1 },
	{ "192.168.1.4/31", "192.168.1.6", 0 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	/* IPv4-mapped IPv6 addresses match IPv4 blocks... */
	{ "10.0.0.0/8", "::ffff:10.9.8.7", 1 },
	{ "10.0.0.0/8", "::ffff:11.9.8.7", 0 },
	{ "127.0.0.1", "::ffff:127.0.0.1", 1 },
	/* ...and mapped blocks match IPv4 addresses. */
	{ "::ffff:10.0.0.0/104", "10.2.3.4", 1 },
	{ "::ffff:10.0.0.0/104", "11.2.3.4", 0 },
	/* A mapped address is not an IPv4-compatible or other address. */
	{ "10.0.0.0/8", "::10.9.8.7", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "2001:db8::/32", "10.0.0.1", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "::1", "::1", 1 },
	{ "::1", "::2", 0 },
	{ "::/0", "fe80::1", 1 },
	{ "::/0", "10.0.0.1", 1 },	/* as ::ffff:10.0.0.1 */
	{ "2001:db8::1/127", "2001:db8::0", 1 },
	{ "2001:db8::1/127", "2001:db8::2", 0 },
	{ "10.0.0.0/8 2001:db8::/32 192.0.2.1", "192.0.2.1", 1 },
	{ "10.0.0.0/8 2001:db8::/32 192.0.2.1", "2001:db8::5", 1 },
	{ "10.0.0.0/8 2001:db8::/32 192.0.2.1", "192.0.2.2", 0 },
};

static void
test_cidr_table(void **state)
{
	const struct cidr_case	*t;
	struct config		*c;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char			 text[512], err[256];
	size_t			 i;

	for (i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		t = &cidr_cases[i];
		snprintf(text, sizeof(text), MINIMAL "auth-exempt %s\n",
		    t->blocks);
		c = config_parse("cidr.conf", text, err, sizeof(err));
		if (c == NULL)
			fail_msg("case %zu: %s", i, err);
		memset(&ss, 0, sizeof(ss));
		sin = (struct sockaddr_in *)&ss;
		sin6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, t->addr, &sin->sin_addr) == 1)
			sin->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, t->addr, &sin6->sin6_addr) == 1)
			sin6->sin6_family = AF_INET6;
		else
			fail_msg("case %zu: bad test address", i);
		if (cidr_match(c->auth_exempt, c->nauth_exempt,
		    (struct sockaddr *)&ss) != t->want)
			fail_msg("case %zu: %s in %s: want %d", i, t->addr,
			    t->blocks, t->want);
		config_free(c);
	}
}

/* Relative paths start from the file's directory, absolute ones stay. */
static void
test_resolve_paths(void **state)
{
	static const char	 text[] = "listen 127.0.0.1:2525 smtp\n"
	    "spool spool\nmailbox-root ../mail\nusers /etc/users\n"
	    "tls-cert a/cert.pem\ntls-key key.pem\nrelay-host smart.example\n"
	    "relay-tls required\nrelay-auth auth\n"
	    "relay-ca-file ca.pem\n";
	struct config		*c;
	char			 err[512], cwd[4096], want[4200], *abs;

	c = config_parse("/etc/smtpauthd/smtpauthd.conf", text, err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(config_resolve_paths(c, err, sizeof(err)), 0);
	assert_string_equal(c->spool, "/etc/smtpauthd/spool");
	assert_string_equal(c->mailbox_root, "/etc/smtpauthd/../mail");
	assert_string_equal(c->users, "/etc/users");
	assert_string_equal(c->tls_cert[0], "/etc/smtpauthd/a/cert.pem");
	assert_string_equal(c->tls_key[0], "/etc/smtpauthd/key.pem");
	assert_string_equal(c->relay_auth, "/etc/smtpauthd/auth");
	assert_string_equal(c->relay_ca_file, "/etc/smtpauthd/ca.pem");
	/* Twice (a reload resolves a new config, never an old one) is
	 * harmless: absolute paths stay. */
	assert_int_equal(config_resolve_paths(c, err, sizeof(err)), 0);
	assert_string_equal(c->spool, "/etc/smtpauthd/spool");
	config_free(c);

	/* A file in / and a file named relative to the current directory. */
	c = config_parse("/x.conf", text, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(config_resolve_paths(c, err, sizeof(err)), 0);
	assert_string_equal(c->spool, "/spool");
	config_free(c);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	c = config_parse("conf/x.conf", text, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(config_resolve_paths(c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/conf/spool", cwd);
	assert_string_equal(c->spool, want);
	config_free(c);
	abs = config_absolute("conf/x.conf");
	snprintf(want, sizeof(want), "%s/conf/x.conf", cwd);
	assert_string_equal(abs, want);
	free(abs);
	abs = config_absolute("/a/b");
	assert_string_equal(abs, "/a/b");
	free(abs);
}

static void
test_cidr_edge(void **state)
{
	struct cidr		 c[1];
	struct sockaddr_in	 sin;
	struct sockaddr		 sa;

	memset(c, 0, sizeof(c));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_false(cidr_match(NULL, 0, (struct sockaddr *)&sin));
	assert_false(cidr_match(c, 0, (struct sockaddr *)&sin));
	assert_false(cidr_match(c, 1, NULL));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	c[0].family = AF_INET;
	c[0].prefix = 0;
	assert_false(cidr_match(c, 1, &sa));
	assert_true(cidr_match(c, 1, (struct sockaddr *)&sin));
}

/* guard-store URLs: what each becomes, or why it is refused. */
static void
test_guard_store(void **state)
{
	static const struct {
		const char	*url;
		const char	*want;	/* "host port db user pass", or error */
	} cases[] = {
		{ "redis://127.0.0.1", "127.0.0.1 6379 0 - -" },
		{ "redis://127.0.0.1:6380/2", "127.0.0.1 6380 2 - -" },
		{ "redis://127.0.0.1/", "127.0.0.1 6379 0 - -" },
		{ "redis://[::1]:7000/15", "::1 7000 15 - -" },
		{ "redis://:s3cr@t@10.0.0.1:6379/1", "10.0.0.1 6379 1 - s3cr@t" },
		{ "redis://smtp:pw@10.0.0.1", "10.0.0.1 6379 0 smtp pw" },
		{ "unix:/run/redis/redis.sock", "unix /run/redis/redis.sock" },
		{ "rediss://127.0.0.1", "tls 127.0.0.1 6379 0 - -" },
		{ "rediss://:pw@[::1]:6390/4", "tls ::1 6390 4 - pw" },
		{ "rediss://localhost", "expected an IP address" },
		{ "redis:/127.0.0.1", "expected redis://" },
		{ "redis://localhost:6379", "expected an IP address" },
		{ "redis://[::1:6379", "expected an IP address" },
		{ "redis://127.0.0.1:0", "bad port" },
		{ "redis://127.0.0.1:65536", "bad port" },
		{ "redis://127.0.0.1:x", "bad port" },
		{ "redis://127.0.0.1:6379/x", "bad database number" },
		{ "redis://127.0.0.1:6379/1/2", "bad database number" },
		{ "redis://pw@127.0.0.1", "credentials" },
		{ "redis://user:@127.0.0.1", "credentials" },
		{ "redis://127.0.0.1x", "expected an IP address" },
		{ "unix:relative.sock", "unix:PATH needs an absolute path" },
		{ "http://127.0.0.1", "expected redis://" },
	};
	struct guard_store	gs;
	struct config		*c;
	char			err[256], got[512];
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (config_parse_store(cases[i].url, &gs, err,
		    sizeof(err)) == -1) {
			assert_false(gs.set);
			if (strstr(err, cases[i].want) == NULL)
				fail_msg("%s: \"%s\", want \"%s\"",
				    cases[i].url, err, cases[i].want);
			continue;
		}
		assert_true(gs.set);
		if (gs.is_unix)
			snprintf(got, sizeof(got), "unix %s", gs.path);
		else
			snprintf(got, sizeof(got), "%s%s %u %u %s %s",
			    gs.tls ? "tls " : "", gs.host,
			    gs.port, gs.db, gs.user[0] ? gs.user : "-",
			    gs.pass[0] ? gs.pass : "-");
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", cases[i].url,
			    got, cases[i].want);
	}
	/* In a file: with its line; the password stays out of the error. */
	c = config_parse("g.conf", MINIMAL "guard-store redis://:pw@host\n",
	    err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "g.conf:"));
	assert_non_null(strstr(err, "guard-store: expected an IP address"));
	assert_null(strstr(err, "pw"));
	assert_non_null(c = config_parse("g.conf", MINIMAL
	    "guard-store redis://127.0.0.1:6379/3\ntls-ticket-keys /k\n"
	    "tls-cert /c\ntls-key /k\n",
	    err, sizeof(err)));
	assert_true(c->guard_store.set);
	assert_int_equal(c->guard_store.db, 3);
	assert_string_equal(c->tls_ticket_keys, "/k");
	config_free(c);
	/* TLS files: relative to the file, only with rediss://. */
	assert_non_null(c = config_parse("/etc/s/g.conf", MINIMAL
	    "guard-store rediss://127.0.0.1:6380\nguard-store-ca-file ca.pem\n"
	    "guard-store-cert c.pem\nguard-store-key c.key\n"
	    "guard-store-tls-name redis.example\n", err, sizeof(err)));
	assert_int_equal(config_resolve_paths(c, err, sizeof(err)), 0);
	assert_true(c->guard_store.tls);
	assert_string_equal(c->guard_store_ca_file, "/etc/s/ca.pem");
	assert_string_equal(c->guard_store_cert, "/etc/s/c.pem");
	assert_string_equal(c->guard_store_key, "/etc/s/c.key");
	assert_string_equal(c->guard_store_tls_name, "redis.example");
	config_free(c);
	for (i = 0; i < 4; i++) {
		static const char *const bad[][2] = {
			{ "guard-store redis://127.0.0.1\n"
			    "guard-store-ca-file /ca\n", "need a rediss://" },
			{ "guard-store-tls-name r.test\n", "need a rediss://" },
			{ "guard-store rediss://127.0.0.1\n"
			    "guard-store-cert /c\n", "go together" },
			{ "guard-store rediss://127.0.0.1\n"
			    "guard-store-tls-name a..b\n", "expected a host" },
		};

		snprintf(got, sizeof(got), "%s%s", MINIMAL, bad[i][0]);
		assert_null(c = config_parse("g.conf", got, err, sizeof(err)));
		if (strstr(err, bad[i][1]) == NULL)
			fail_msg("%s: \"%s\", want \"%s\"", bad[i][0], err,
			    bad[i][1]);
	}
	assert_non_null(c = config_parse("g.conf", MINIMAL, err,
	    sizeof(err)));
	assert_false(c->guard_store.set);
	assert_null(c->tls_ticket_keys);
	config_free(c);
}

static void
test_send_limit(void **state)
{
	struct config	*c;
	char		 err[256];

	assert_non_null(c = config_parse("s.conf", MINIMAL
	    "send-limit 100/3600\nsend-limit-recipients 1000000/31536000\n",
	    err, sizeof(err)));
	assert_int_equal(c->send_limit.count, 100);
	assert_int_equal(c->send_limit.secs, 3600);
	assert_int_equal(c->send_limit_rcpts.count, 1000000);
	assert_int_equal(c->send_limit_rcpts.secs, 31536000);
	config_free(c);
	assert_non_null(c = config_parse("s.conf", MINIMAL, err, sizeof(err)));
	assert_int_equal(c->send_limit.count, 0);
	assert_int_equal(c->send_limit_rcpts.count, 0);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_limit),
		cmocka_unit_test(test_guard_store),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_table),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_words),
		cmocka_unit_test(test_small_err),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_too_large),
		cmocka_unit_test(test_check_user),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_cidr_table),
		cmocka_unit_test(test_cidr_edge),
		cmocka_unit_test(test_resolve_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
