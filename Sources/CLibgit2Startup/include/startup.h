#ifndef GASWORKS_CLIBGIT2_STARTUP_H
#define GASWORKS_CLIBGIT2_STARTUP_H

/* How many times libgit2 asked to load CA certificates in this process (see startup.c). */
int gw_ca_bundle_requests(void);

#endif
