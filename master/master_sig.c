/*
 * master_sig - master's signal handling through a self-pipe.
 *
 * Handlers for SIGHUP (reload), SIGTERM/SIGINT (stop) and SIGCHLD (reap)
 * only write one byte naming the signal to a non-blocking pipe; the event
 * loop polls the read end and does the work outside signal context. A full
 * pipe loses nothing that matters: one pending byte per kind is enough.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "master/master.h"

static int master_sig_pipe[2] = {-1, -1};

/* The only signal handler: record the signal in the self-pipe. */
static void master_sig_handler(int sig)
{
    int saved_errno = errno;
    unsigned char byte = (unsigned char)sig;

    (void)!write(master_sig_pipe[1], &byte, 1);
    errno = saved_errno;
}

/* Create the self-pipe and install the handlers. */
int master_sig_init(const char **why_r)
{
    static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
    struct sigaction sa;

    if (pipe2(master_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        *why_r = strerror(errno);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = master_sig_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0) {
            *why_r = strerror(errno);
            return -1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* The read end, for poll. */
int master_sig_fd(void)
{
    return master_sig_pipe[0];
}

/* Read every pending signal byte; returns MASTER_SIG_* bits. */
int master_sig_drain(int *term_sig_r)
{
    unsigned char bytes[64];
    int bits = 0;
    ssize_t n;

    while ((n = read(master_sig_pipe[0], bytes, sizeof(bytes))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            switch (bytes[i]) {
            case SIGHUP:
                bits |= MASTER_SIG_HUP;
                break;
            case SIGTERM:
            case SIGINT:
                bits |= MASTER_SIG_TERM;
                *term_sig_r = bytes[i];
                break;
            case SIGCHLD:
                bits |= MASTER_SIG_CHLD;
                break;
            }
        }
    }
    return bits;
}

/* In a new child: restore default dispositions and an empty signal mask. */
void master_sig_reset_child(void)
{
    static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGPIPE};
    sigset_t none;

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In a new child: the self-pipe is master's alone (it is close-on-exec too). */
void master_sig_close_child(void)
{
    close(master_sig_pipe[0]);
    close(master_sig_pipe[1]);
}
