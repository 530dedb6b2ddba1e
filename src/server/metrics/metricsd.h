/*
 * The metrics process: the Prometheus text format over HTTP on
 * metrics-listen (smtpauthd(8), METRICS).  It holds no secret: no TLS
 * key, no password hash, no relay credential; it reads the shared counter
 * block and the ban table.
 */
#ifndef SMTPAUTHD_METRICSD_H
#define SMTPAUTHD_METRICSD_H

#include "server/shared/config.h"

/* Serve on the listening socket fd (bound by the parent); never returns. */
void	metricsd_main(const struct config *, int fd)
	    __attribute__((noreturn));

#endif
