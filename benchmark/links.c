/*
 * For the reset row: hard links of one file, to bring it to the filesystem's link limit.
 *
 *   links <file> <dir> <from> <to>     link(file, "<dir>/<i>") for i in [from, to)
 *
 * Stops at the first failure (EMLINK at the limit) with its message and exit status 1.
 * Build: cc -O2 -o links links.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: links <file> <dir> <from> <to>\n");
    return 2;
  }
  long from = atol(argv[3]), to = atol(argv[4]);
  char path[4096];
  for (long i = from; i < to; i++) {
    snprintf(path, sizeof path, "%s/%ld", argv[2], i);
    if (link(argv[1], path) != 0) {
      fprintf(stderr, "links: link '%s' -> '%s': %s\n", argv[1], path, strerror(errno));
      return 1;
    }
  }
  return 0;
}
