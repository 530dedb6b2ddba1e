/*
 * JSON output: the one string writer of the reports.
 */
#ifndef SMTPAUTH_JSON_H
#define SMTPAUTH_JSON_H

#include <stdio.h>

/*
 * s as a JSON string, quotes included.  Anything outside printable ASCII
 * is escaped as \u00XX (one per octet), so the output is valid JSON and
 * plain ASCII whatever bytes a server sent.
 */
void	json_string(FILE *, const char *s);

#endif
