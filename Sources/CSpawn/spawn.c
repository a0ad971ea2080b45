// GNU extensions that Swift's Glibc module does not expose, compiled with _GNU_SOURCE.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>
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

int gw_send_with_fds(int socket, const void *data, unsigned long length, const int *fds, int count) {
    char control[CMSG_SPACE(sizeof(int) * 8)];
    if (count > 8) return -1;
    struct iovec vector = {(void *)data, length};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    memset(control, 0, sizeof control);
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    if (count > 0) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
    }
    return sendmsg(socket, &message, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

long gw_receive_with_fds(int socket, void *data, unsigned long capacity, int *fds, int maximum, int *received) {
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec vector = {data, capacity};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    *received = 0;
    long count = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (count < 0) return -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int found = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *given = (int *)CMSG_DATA(header);
        for (int index = 0; index < found; index++) {
            if (*received < maximum) fds[(*received)++] = given[index];
            else close(given[index]);
        }
    }
    return count;
}
