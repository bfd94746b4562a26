/* samples: the README's example, built against the installed library by `make installcheck`. */
#include <lucid.h>
#include <pthread.h>
#include <stdio.h>

static long from = 100, to = 0;

static void *mover(void *arg)
{
    for (int i = 0; i < 50; i++) {
        LUCID_ATOMIC {                    /* runs again by itself on conflict */
            long f = lucid_read(from), t = lucid_read(to);
            lucid_write(from, f - 1);
            lucid_write(to, t + 1);
        }
    }
    return arg;
}

int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, mover, NULL);
    pthread_create(&b, NULL, mover, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%ld %ld\n", from, to);       /* always "0 100" */
    return 0;
}
