/*
 * Debian's libgit2 1.5.1 uses mbedTLS and, inside git_libgit2_init(), parses every
 * certificate of the system CA bundle: about 3.3 ms of a 10 ms command, in every process.
 * Gasworks never opens a network connection through libgit2 (remotes are git's own job),
 * so these two definitions, exported from the executable, take the place of mbedTLS's
 * loaders for libgit2 and load nothing. Should a libgit2 TLS connection ever be made, it
 * would fail closed: with no trusted certificate, no server certificate verifies.
 */
#include "startup.h"

static int requests;

int mbedtls_x509_crt_parse_file(void *chain, const char *path) {
    (void)chain;
    (void)path;
    requests++;
    return 0;
}

int mbedtls_x509_crt_parse_path(void *chain, const char *path) {
    (void)chain;
    (void)path;
    requests++;
    return 0;
}

int gw_ca_bundle_requests(void) { return requests; }
