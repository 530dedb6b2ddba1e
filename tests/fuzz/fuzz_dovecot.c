/*
 * libFuzzer harness for the reader of Dovecot's auth-client protocol (what
 * a hostile or broken Dovecot may send): the input is framed into lines as
 * backend_dovecot.c frames its socket's bytes, and each line is parsed.
 * Never a crash; a frame never runs past its input nor past DVC_LINE_MAX;
 * a parsed line holds what its kind promises, read as the auth-client
 * protocol and as the auth-master one (dovecot-userdb).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/auth/dovecot_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;
	struct dvc_line	 l;
	size_t		 left = size, len;
	int		 rc;

	while (left > 0) {
		rc = dvc_frame(p, left, &len);
		assert(rc >= -1 && rc <= 1);
		if (rc != 1) {
			assert(rc == -1 ? left > DVC_LINE_MAX :
			    left <= DVC_LINE_MAX);
			break;
		}
		assert(len < left && len <= DVC_LINE_MAX && p[len] == '\n');
		switch (dvc_parse(p, len, &l)) {
		case DVC_MECH:
			assert(l.mech[0] != '\0' &&
			    strlen(l.mech) < sizeof(l.mech));
			break;
		case DVC_OK:
		case DVC_FAIL:
		case DVC_CONT:
			assert(l.id != 0);
			break;
		case DVC_BAD:
		case DVC_IGNORE:
		case DVC_VERSION:
		case DVC_DONE:
			break;
		default:
			assert(0);
		}
		assert(l.kind != DVC_FAIL || l.temp == 0 || l.temp == 1);
		/* The same line as the auth-master side would read it. */
		switch (dvc_parse_master(p, len, &l)) {
		case DVC_USER:
			assert(l.id != 0 && l.user != NULL && l.userlen > 0 &&
			    l.user >= p && l.user + l.userlen <= p + len);
			break;
		case DVC_NOTFOUND:
			assert(l.id != 0);
			break;
		case DVC_FAIL:
			assert(l.id != 0 && l.temp == 1);
			break;
		case DVC_BAD:
		case DVC_IGNORE:
		case DVC_VERSION:
			break;
		default:
			assert(0);
		}
		p += len + 1;
		left -= len + 1;
	}
	return 0;
}
