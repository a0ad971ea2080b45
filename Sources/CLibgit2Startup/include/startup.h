#ifndef GASWORKS_CLIBGIT2_STARTUP_H
#define GASWORKS_CLIBGIT2_STARTUP_H

/* How many times libgit2 asked to load CA certificates in this process (see startup.c). */
int gw_ca_bundle_requests(void);

/// Adds "close every descriptor from `lowest` up" to posix_spawn file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np). Returns 0 or an errno value.
int gw_spawn_close_from(void *actions, int lowest);

#endif
