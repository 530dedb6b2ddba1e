/*
 * For the unit tests of the content rule and of the relay's stuffing:
 * every string of up to CRLF_STRINGS_MAX octets over CR, LF, '.' and 'a'
 * in turn, and where such a string has a bare CR or LF.
 */
#ifndef SMTPAUTH_TEST_CRLFSTRINGS_H
#define SMTPAUTH_TEST_CRLFSTRINGS_H

#include <stddef.h>

#define CRLF_STRINGS_MAX	7

/* The walk: *code starts at 0; returns 0 once every string was given. */
static int
crlf_string_next(char *in, size_t *len, size_t *code)
{
	static const char	abc[] = "\r\n.a";
	size_t			i, n, o;

	for (;;) {
		for (n = 1, i = 0; i < *len; i++)
			n *= 4;
		if (*code < n)
			break;
		if (*len == CRLF_STRINGS_MAX)
			return 0;
		(*len)++;
		*code = 0;
	}
	for (i = 0, o = *code; i < *len; i++, o /= 4)
		in[i] = abc[o % 4];
	(*code)++;
	return 1;
}

/* 1 for a bare CR, 2 for a bare LF (both: 3). */
static unsigned
crlf_bare(const char *s, size_t len)
{
	unsigned	bare = 0;
	size_t		i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
			bare |= 1;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			bare |= 2;
	}
	return bare;
}

#endif
