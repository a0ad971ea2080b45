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

/// Sends `length` bytes of `data` on the Unix socket `socket` with the descriptors `fds`
/// (SCM_RIGHTS): a broker's client hands over its stdin, stdout and stderr so the command
/// the broker runs writes straight to them. Returns 0 or -1 (errno set).
int gw_send_with_fds(int socket, const void *data, unsigned long length, const int *fds, int count);

/// Receives up to `capacity` bytes and up to `maximum` descriptors from `socket`; the
/// descriptors land in `fds`, their number in `*received`. Returns the bytes read or -1.
long gw_receive_with_fds(int socket, void *data, unsigned long capacity, int *fds, int maximum, int *received);

#endif
