// The C source of the probe program the sandbox tests compile at test time: one binary, many
// behaviours selected by argv[1] (see the usage message at the bottom).
#pragma once

namespace crucible::sandbox::testing {

inline const char* kProbeSource = R"C(
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long sink;
static void* spin(void* arg) { (void)arg; for (;;) sink++; return 0; }
static int recurse(int n) { volatile char pad[1024]; pad[0] = (char)n; return recurse(n + 1) + pad[0]; }

int main(int argc, char** argv) {
  const char* m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "hello")) { printf("hello\n"); return 0; }
  if (!strcmp(m, "upper")) {  /* stdin -> uppercase stdout, "err" on stderr */
    int c; while ((c = getchar()) != EOF) putchar(c >= 'a' && c <= 'z' ? c - 32 : c);
    fprintf(stderr, "err"); return 0;
  }
  if (!strcmp(m, "exit")) return atoi(argv[2]);
  if (!strcmp(m, "abort")) abort();
  if (!strcmp(m, "segv")) { *(volatile int*)0 = 1; return 0; }
  if (!strcmp(m, "env")) { const char* v = getenv(argv[2]); printf("%s", v ? v : "(unset)"); return 0; }
  if (!strcmp(m, "cat")) {
    FILE* f = fopen(argv[2], "r"); if (!f) { perror("fopen"); return 1; }
    int c; while ((c = fgetc(f)) != EOF) putchar(c); return 0;
  }
  if (!strcmp(m, "forkbomb")) { for (;;) fork(); }
  if (!strcmp(m, "membomb")) {  /* allocate and touch up to 4 GiB */
    for (int i = 0; i < 4096; ++i) { char* p = malloc(1 << 20); if (!p) return 3; memset(p, i, 1 << 20); }
    return 0;
  }
  if (!strcmp(m, "bigvec")) {  /* like std::vector<char> v(3ull << 30, 1): one allocation, touched in order */
    size_t n = (size_t)3 << 30; char* p = malloc(n); if (!p) return 3;
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    printf("%d", p[12345]); return 0;
  }
  if (!strcmp(m, "forkmem")) {  /* a child blows the memory limit, the parent waits for it */
    pid_t c = fork(); if (c < 0) return 2;
    if (c == 0) { for (;;) { char* p = malloc(1 << 20); if (!p) _exit(3); memset(p, 1, 1 << 20); } }
    int st; waitpid(c, &st, 0); printf("child %s %d", WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return 1;
  }
  if (!strcmp(m, "stack")) return recurse(0);
  if (!strcmp(m, "spin")) spin(0);
  if (!strcmp(m, "sleep")) { sleep(100); return 0; }
  if (!strcmp(m, "output")) { static char buf[65536]; memset(buf, 'x', sizeof buf); for (;;) fwrite(buf, 1, sizeof buf, stdout); }
  if (!strcmp(m, "diskfill")) {
    static char buf[65536]; memset(buf, 'd', sizeof buf);
    int fd = open("fill.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644); if (fd < 0) return 2;
    for (;;) if (write(fd, buf, sizeof buf) < 0) return 3;
  }
  if (!strcmp(m, "connect")) {  /* exit 0 = connected (bad), 1 = refused */
    int s = socket(AF_INET, SOCK_STREAM, 0); if (s < 0) { perror("socket"); return 1; }
    struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr*)&a, sizeof a) == 0) { printf("connected"); return 0; }
    perror("connect"); return 1;
  }
  if (!strcmp(m, "write")) {  /* exit 0 = wrote (bad) */
    int ok = 0;
    for (int i = 2; i < argc; ++i) { int fd = open(argv[i], O_WRONLY | O_CREAT, 0666); if (fd >= 0) { ok = 1; printf("wrote %s\n", argv[i]); close(fd); } }
    return ok ? 0 : 1;
  }
  if (!strcmp(m, "leave")) {
    int a = open("/box/left.txt", O_WRONLY | O_CREAT, 0644), b = open("/tmp/left.txt", O_WRONLY | O_CREAT, 0644);
    return (a >= 0 && b >= 0) ? 0 : 1;
  }
  if (!strcmp(m, "check_left")) return (access("/box/left.txt", F_OK) == 0 || access("/tmp/left.txt", F_OK) == 0) ? 1 : 0;
  if (!strcmp(m, "orphan")) {  /* argv[2]: dir for the marker the orphan writes after 1 s */
    pid_t p = fork();
    if (p == 0) {
      setsid();
      if (fork() == 0) {
        sleep(1);
        char path[512]; snprintf(path, sizeof path, "%s/orphan_alive", argv[2]);
        int fd = open(path, O_WRONLY | O_CREAT, 0666); if (fd >= 0) close(fd);
        for (;;) pause();
      }
      _exit(0);
    }
    usleep(100000);
    return 0;
  }
  if (!strcmp(m, "killall")) { int r = kill(-1, SIGKILL); printf("kill=%d errno=%d", r, r ? errno : 0); return 0; }
  if (!strcmp(m, "ptrace")) { long r = ptrace(PTRACE_TRACEME, 0, 0, 0); printf("ptrace=%ld", r); return 0; }
  if (!strcmp(m, "unshare")) { int r = unshare(CLONE_NEWUSER); printf("unshare=%d", r); return 0; }
  if (!strcmp(m, "mount")) { int r = mount("none", "/tmp", "tmpfs", 0, 0); printf("mount=%d", r); return 0; }
  if (!strcmp(m, "threads")) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n; ++i) { pthread_t t; if (pthread_create(&t, 0, spin, 0)) { printf("pthread_create failed at %d", i); return 4; } }
    spin(0);
  }
  if (!strcmp(m, "procsnoop")) {  /* numeric /proc entries and their cmdlines */
    DIR* d = opendir("/proc"); if (!d) { printf("noproc"); return 0; }
    struct dirent* e; int n = 0;
    while ((e = readdir(d))) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      ++n;
      char p[300], buf[256]; snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
      int fd = open(p, O_RDONLY); if (fd < 0) continue;
      ssize_t k = read(fd, buf, sizeof buf - 1); close(fd);
      if (k > 0) { buf[k] = 0; printf("%s:%s\n", e->d_name, buf); }
    }
    printf("count=%d\n", n); return 0;
  }
  if (!strcmp(m, "initproc")) {  /* every way to reach the box init (pid 1); prints what worked */
    /* owner-only files (the init's owner is not the program's uid) and 0666 files the kernel
       guards at write time: each gets a harmless value */
    const char* w[][2] = {{"/proc/1/clear_refs", "5"}, {"/proc/1/coredump_filter", "0x33"},
                          {"/proc/1/oom_score_adj", "0"}, {"/proc/1/comm", "init"}, {"/proc/1/mem", "x"},
                          {"/proc/1/timerslack_ns", "50000"}, {"/proc/1/sched", "0"},
                          {"/proc/1/attr/current", "unconfined"}, {0, 0}};
    const char* r[] = {"/proc/1/mem", "/proc/1/environ", "/proc/1/maps", "/proc/1/auxv", "/proc/1/stack", 0};
    int n = 0;
    for (int i = 0; w[i][0]; ++i) {
      int fd = open(w[i][0], O_WRONLY);
      if (fd >= 0 && write(fd, w[i][1], strlen(w[i][1])) >= 0) { printf("wrote %s\n", w[i][0]); ++n; }
      if (fd >= 0) close(fd);
    }
    for (int i = 0; r[i]; ++i) {
      int fd = open(r[i], O_RDONLY); char b[64];
      if (fd >= 0 && read(fd, b, sizeof b) > 0) { printf("readable %s\n", r[i]); ++n; }
      if (fd >= 0) close(fd);
    }
    char link[256];
    if (readlink("/proc/1/fd/0", link, sizeof link) >= 0) { printf("fd of init visible\n"); ++n; }
    if (readlink("/proc/1/root", link, sizeof link) >= 0) { printf("root of init visible\n"); ++n; }
    int sigs = 0;
    for (int s = 1; s < 32; ++s) {
      /* SIGCONT: allowed within a session (the program shares the init's); it only resumes a
         stopped process, and nothing in the box may stop the init */
      if (s == SIGCONT) continue;
      if (kill(1, s) == 0) { printf("signal %d accepted\n", s); ++sigs; }
    }
    printf("reached=%d signals=%d\n", n, sigs); return 0;
  }
  if (!strcmp(m, "netcount")) {  /* prints the IP OutNoRoutes counter, then raises it */
    FILE* f = fopen("/proc/net/snmp", "r"); if (!f) { printf("nosnmp"); return 2; }
    char line[1024], head[1024] = ""; long v = -1;
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "Ip: ", 4)) continue;
      if (!head[0]) { strcpy(head, line); continue; }
      int col = 0, want = -1; char* save; char* t = strtok_r(head, " \n", &save);
      for (; t; t = strtok_r(0, " \n", &save), ++col) if (!strcmp(t, "OutNoRoutes")) want = col;
      col = 0; t = strtok_r(line, " \n", &save);
      for (; t; t = strtok_r(0, " \n", &save), ++col) if (col == want) v = atol(t);
      break;
    }
    printf("OutNoRoutes=%ld\n", v);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = htons(9);
    a.sin_addr.s_addr = htonl(0x0a000001);
    for (int i = 0; i < 5; ++i) sendto(s, "x", 1, 0, (struct sockaddr*)&a, sizeof a);
    return 0;
  }
  if (!strcmp(m, "fds")) {  /* open descriptors other than the one listing them */
    DIR* d = opendir("/proc/self/fd"); if (!d) return 2;
    struct dirent* e;
    while ((e = readdir(d))) if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf("%s ", e->d_name);
    return 0;
  }
  if (!strcmp(m, "noflush")) {  /* interactor that never flushes its query, then waits */
    printf("query 1\n"); char buf[64]; if (fgets(buf, sizeof buf, stdin)) return 0; return 1;
  }
  if (!strcmp(m, "procdump")) {  /* raw contents of every /proc/<pid> file it can read (not its own mem) */
    static char buf[1 << 16];
    char pids[64][32]; int np = 0, listed = 0;
    strcpy(pids[np++], "1"); strcpy(pids[np++], "self"); strcpy(pids[np++], "thread-self");
    DIR* d = opendir("/proc"); struct dirent* e;
    while (d && (e = readdir(d)) && np < 64)
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') { snprintf(pids[np++], sizeof pids[0], "%s", e->d_name); ++listed; }
    if (d) closedir(d);
    const char* files[] = {"cmdline", "environ", "maps", "smaps", "stat", "status", "comm", "auxv", "stack",
                           "syscall", "cwd", "root", "exe", "mem", 0};
    char self[32]; snprintf(self, sizeof self, "%d", (int)getpid());
    for (int i = 0; i < np; ++i) {
      for (int f = 0; files[f]; ++f) {
        char path[128]; snprintf(path, sizeof path, "/proc/%s/%s", pids[i], files[f]);
        if (!strcmp(files[f], "cwd") || !strcmp(files[f], "root") || !strcmp(files[f], "exe")) {
          ssize_t k = readlink(path, buf, sizeof buf - 1);
          if (k >= 0) { buf[k] = 0; printf("== %s -> %s\n", path, buf); }
          continue;
        }
        if (!strcmp(files[f], "mem")) {  /* every readable mapping, via maps (another process's only) */
          if (!strcmp(pids[i], "self") || !strcmp(pids[i], "thread-self") || !strcmp(pids[i], self)) continue;
          char mp[128]; snprintf(mp, sizeof mp, "/proc/%s/maps", pids[i]);
          int mem = open(path, O_RDONLY);
          if (mem < 0) continue;
          FILE* maps = fopen(mp, "r");
          printf("== %s\n", path);
          char line[512]; unsigned long lo, hi; char perms[8];
          while (maps && fgets(line, sizeof line, maps))
            if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[0] == 'r')
              for (unsigned long a = lo; a < hi; a += sizeof buf) {
                ssize_t k = pread(mem, buf, sizeof buf, (off_t)a);
                if (k <= 0) break;
                fwrite(buf, 1, (size_t)k, stdout);
              }
          if (maps) fclose(maps);
          close(mem);
          continue;
        }
        int fd = open(path, O_RDONLY); if (fd < 0) continue;
        printf("== %s\n", path); ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)k, stdout);
        printf("\n"); close(fd);
      }
    }
    printf("listed=%d\n", listed); return 0;
  }
  if (!strcmp(m, "answer")) { char buf[64]; if (!fgets(buf, sizeof buf, stdin)) return 1; printf("answer\n"); return 0; }
  fprintf(stderr, "usage: probe hello|upper|exit N|abort|segv|env K|cat F|forkbomb|membomb|bigvec|forkmem|stack|spin|"
                  "sleep|output|diskfill|connect PORT|write F...|leave|check_left|orphan DIR|killall|ptrace|unshare|"
                  "mount|threads N|procsnoop|procdump|initproc|fds|netcount|noflush|answer\n");
  return 100;
}
)C";

}  // namespace crucible::sandbox::testing
