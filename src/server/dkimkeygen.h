/*
 * smtpauthd dkim-keygen [--ed25519] [-o FILE] DOMAIN SELECTOR: a new
 * DKIM key, written as PEM (mode 0600, never over a file that exists),
 * and the DNS TXT record that publishes it, on standard output.
 */
#ifndef SMTPAUTHD_DKIMKEYGEN_H
#define SMTPAUTHD_DKIMKEYGEN_H

#include <stddef.h>

/* argv[0] is "dkim-keygen"; returns the exit status (0, 1 or 2). */
int	dkim_keygen_main(int argc, char *argv[]);

/*
 * The TXT record of the public half of a PEM private key at path, as
 * dkim-keygen prints it (for -n and tests): 0, or -1 with err set.
 */
int	dkim_txt_record(const char *path, const char *domain,
	    const char *selector, char *out, size_t outlen, char *err,
	    size_t errlen);

#endif
