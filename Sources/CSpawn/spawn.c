// GNU extensions that Swift's Glibc module does not expose, compiled with _GNU_SOURCE.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include "spawn_helpers.h"

int gw_spawn_close_from(void *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, lowest);
}

int gw_spawn_chdir(void *actions, const char *directory) {
    return posix_spawn_file_actions_addchdir_np((posix_spawn_file_actions_t *)actions, directory);
}

int gw_pipe_cloexec(int ends[2]) {
    return pipe2(ends, O_CLOEXEC);
}
