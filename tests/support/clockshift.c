/* clockshift: move the wall clock of a process tree by AOF_CLOCK_SHIFT_S seconds.
 *
 * `make date-check` preloads it (LD_PRELOAD) into the test run; every child process, git
 * included, inherits it, so the machine's clock is on another day for all of them while the
 * tests' fixed clocks stay where they are. Only the wall clock moves (CLOCK_REALTIME, time(),
 * gettimeofday()); the monotonic clock, sleeps and timed waits are untouched, so timeouts
 * keep their real length. (Debian's libfaketime 0.9.10 also moves the monotonic clock, which
 * makes Python 3.11's timed lock waits hang, or, with that turned off, time.sleep fail.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#ifndef SHIFT_S
#define SHIFT_S 0
#endif

/* AOF_CLOCK_SHIFT_S, else the shift built in (-DSHIFT_S=...): a child whose environment was
 * cleaned (aof gives coders only a few variables, LD_PRELOAD among them) keeps the shift. */
static long long shift(void) {
    static int ready;
    static long long seconds;
    if (!ready) {
        const char *v = getenv("AOF_CLOCK_SHIFT_S");
        seconds = v ? atoll(v) : SHIFT_S;
        ready = 1;
    }
    return seconds;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && ts && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    int rc = real(tv, tz);
    if (rc == 0 && tv) tv->tv_sec += shift();
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
