// posix_spawn_file_actions_addclosefrom_np is a GNU extension that Swift's Glibc module
// does not expose; this wrapper is compiled with _GNU_SOURCE so GitKit can use it.
#define _GNU_SOURCE
#include <spawn.h>
#include "startup.h"

int gw_spawn_close_from(void *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, lowest);
}
