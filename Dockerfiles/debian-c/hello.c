/* A small C program for the debian-c example: prints who built it and a computed value. */
#include <stdio.h>
#include <stdlib.h>

static unsigned long
fib(unsigned n)
{
    unsigned long a = 0, b = 1;
    while (n--) {
        unsigned long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

int
main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 50;
    printf("Hello from C, compiled by gcc %d.%d in a Debian image built by imgbuild\n", __GNUC__,
           __GNUC_MINOR__);
    printf("fib(%u) = %lu\n", n, fib(n));
    return 0;
}
