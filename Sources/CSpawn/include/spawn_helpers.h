#ifndef GASWORKS_CSPAWN_H
#define GASWORKS_CSPAWN_H

/* GNU extensions around posix_spawn and pipe that Swift's Glibc module does not expose;
   spawn.c is compiled with _GNU_SOURCE. */

/// Adds "close every descriptor from `lowest` up" to posix_spawn file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np). Returns 0 or an errno value.
int gw_spawn_close_from(void *actions, int lowest);

/// Adds "change to `directory`" to posix_spawn file actions (glibc's
/// posix_spawn_file_actions_addchdir_np). Returns 0 or an errno value.
int gw_spawn_chdir(void *actions, const char *directory);

/// pipe2(ends, O_CLOEXEC): both ends close-on-exec from the moment they exist, so a child
/// spawned by another thread in between never inherits them. Returns 0 or -1 (errno set).
int gw_pipe_cloexec(int ends[2]);

#endif
