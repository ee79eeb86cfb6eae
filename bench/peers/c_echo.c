/*
 * Context for the per-op floor rows (bench/_floor.ts): the kernel's share
 * of an echo round trip, measured as the CPU of the least a server can do,
 * a blocking read/write (recvfrom/sendto) loop in C with no runtime.
 * Usage: c_echo tcp|udp  -> prints "listening tcp|udp 127.0.0.1:PORT".
 * TCP serves one connection at a time (the floor rows use one client).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int udp = argc > 1 && strcmp(argv[1], "udp") == 0;
  int s = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  socklen_t len = sizeof a;
  getsockname(s, (struct sockaddr *)&a, &len);
  printf("listening %s 127.0.0.1:%d\n", udp ? "udp" : "tcp", ntohs(a.sin_port));
  fflush(stdout);
  static char buf[65536];
  if (udp) {
    for (;;) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n >= 0) sendto(s, buf, n, 0, (struct sockaddr *)&from, fl);
    }
  }
  listen(s, 128);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(c, buf + off, n - off);
        if (w <= 0) break;
        off += w;
      }
    }
    close(c);
  }
}
