/*
 * The floor: the syscalls a tree import cannot avoid, and nothing else.
 *
 *   floor <hardlink|clone|copy> <threads> <dirs-file> <pairs-file>
 *
 * dirs-file:  "dir\0" records, parents first; created in order by one thread (mkdir, mode 0755).
 * pairs-file: "src\0dest\0mode\0" records (mode in octal, e.g. "755"); split over <threads> pthreads:
 *   hardlink  link(src, dest)
 *   clone     open(src) + open(dest, O_CREAT|O_EXCL|O_WRONLY, mode) + ioctl(FICLONE)
 *   copy      open(src) + open(dest, O_CREAT|O_EXCL|O_WRONLY, mode) + copy_file_range loop
 * Reading the lists is not timed. Prints one JSON line: {"ns":<elapsed>,"maxRssKb":<getrusage>}.
 * Build: cc -O2 -pthread -o floor floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum method { HARDLINK, CLONE, COPY };
struct pair { const char *src, *dest; mode_t mode; };

static enum method method;
static struct pair *pairs;
static size_t npairs;
static size_t next_pair; /* shared work index, taken CHUNK at a time */
#define CHUNK 32

static void die(const char *what, const char *a, const char *b) {
  fprintf(stderr, "floor: %s '%s'%s%s: %s\n", what, a, b ? " -> " : "", b ? b : "", strerror(errno));
  exit(1);
}

/* Reads a whole file and splits it at NULs; returns the number of strings. */
static size_t read_records(const char *path, char ***out) {
  FILE *f = fopen(path, "rb");
  if (!f) die("open", path, NULL);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(n + 1);
  if (!buf || fread(buf, 1, n, f) != (size_t)n) die("read", path, NULL);
  fclose(f);
  size_t count = 0, cap = 1024;
  char **recs = malloc(cap * sizeof *recs);
  for (long i = 0; i < n; i += strlen(buf + i) + 1) {
    if (count == cap) recs = realloc(recs, (cap *= 2) * sizeof *recs);
    recs[count++] = buf + i;
  }
  *out = recs;
  return count;
}

static void import_one(const struct pair *p) {
  if (method == HARDLINK) {
    if (link(p->src, p->dest) != 0) die("link", p->src, p->dest);
    return;
  }
  int in = open(p->src, O_RDONLY | O_CLOEXEC);
  if (in < 0) die("open", p->src, NULL);
  int out = open(p->dest, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, p->mode);
  if (out < 0) die("open", p->dest, NULL);
  if (method == CLONE) {
    if (ioctl(out, FICLONE, in) != 0) die("ioctl(FICLONE)", p->src, p->dest);
  } else {
    ssize_t r;
    while ((r = copy_file_range(in, NULL, out, NULL, 1 << 30, 0)) > 0) {}
    if (r < 0) die("copy_file_range", p->src, p->dest);
  }
  close(in);
  close(out);
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    size_t i = __atomic_fetch_add(&next_pair, CHUNK, __ATOMIC_RELAXED);
    if (i >= npairs) return NULL;
    size_t end = i + CHUNK < npairs ? i + CHUNK : npairs;
    for (; i < end; i++) import_one(&pairs[i]);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: floor <hardlink|clone|copy> <threads> <dirs-file> <pairs-file>\n");
    return 2;
  }
  if (!strcmp(argv[1], "hardlink")) method = HARDLINK;
  else if (!strcmp(argv[1], "clone")) method = CLONE;
  else if (!strcmp(argv[1], "copy")) method = COPY;
  else { fprintf(stderr, "floor: unknown method %s\n", argv[1]); return 2; }
  int threads = atoi(argv[2]);
  if (threads < 1 || threads > 64) { fprintf(stderr, "floor: bad thread count %s\n", argv[2]); return 2; }

  char **dirs, **recs;
  size_t ndirs = read_records(argv[3], &dirs);
  size_t nrecs = read_records(argv[4], &recs);
  if (nrecs % 3) { fprintf(stderr, "floor: %s: not src/dest/mode triples\n", argv[4]); return 2; }
  npairs = nrecs / 3;
  pairs = malloc((npairs ? npairs : 1) * sizeof *pairs);
  for (size_t i = 0; i < npairs; i++) {
    pairs[i].src = recs[3 * i];
    pairs[i].dest = recs[3 * i + 1];
    pairs[i].mode = (mode_t)strtol(recs[3 * i + 2], NULL, 8);
  }
  pthread_t tids[64];

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < ndirs; i++)
    if (mkdir(dirs[i], 0755) != 0) die("mkdir", dirs[i], NULL);
  for (int t = 1; t < threads; t++)
    if (pthread_create(&tids[t], NULL, worker, NULL) != 0) die("pthread_create", "", NULL);
  worker(NULL);
  for (int t = 1; t < threads; t++) pthread_join(tids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  printf("{\"ns\":%lld,\"maxRssKb\":%ld}\n", ns, ru.ru_maxrss);
  return 0;
}
