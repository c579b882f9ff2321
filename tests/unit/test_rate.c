/* cr_rate: the broker's sliding windows per account and per platform. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cr_rate.h"

#define T0 1763800000000LL /* some unix ms */

/* 3 posts per 3 s per account: three go at once, the fourth waits until a
 * window after the first one was done. */
static void test_account_window(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_non_null(r);
    assert_int_equal(cr_rate_set_platform(r, "x", 3, 3000, 0, 0), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(cr_rate_take(r, 1, "x", T0), 0);
    /* all three in flight: no sooner than a window from now */
    assert_int_equal(cr_rate_take(r, 1, "x", T0), T0 + 3000);
    /* another account of the same platform is not affected */
    assert_int_equal(cr_rate_take(r, 2, "x", T0), 0);
    /* done at +100, +200, +300: the places free up a window after each */
    cr_rate_done(r, 1, "x", T0 + 100);
    cr_rate_done(r, 1, "x", T0 + 200);
    cr_rate_done(r, 1, "x", T0 + 300);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 1000), T0 + 3100);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 3100), 0);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 3100), T0 + 3200);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 3200), 0);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 3300), 0);
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 3300), T0 + 6300);
    assert_int_equal(cr_rate_in_flight(r), 4); /* 3 of account 1, 1 of account 2 */
    /* a platform without limits never waits */
    for (int i = 0; i < 1000; i++) assert_int_equal(cr_rate_take(r, 3, "mastodon", T0), 0);
    cr_rate_destroy(&r);
    assert_null(r);
}

/* The property a token bucket lacks: over a long run of an account always
 * ready to publish, no span of one window holds more than the limit (a
 * bucket lets twice the limit into one fixed window: full at its start,
 * refilled during it). */
static void test_never_more_than_limit_per_window(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    const int limit = 4;
    const int64_t window = 6000;
    assert_int_equal(cr_rate_set_platform(r, "x", limit, window, 0, 0), 0);
    int64_t sent[200];
    int n = 0;
    for (int64_t now = T0; now < T0 + 60000 && n < 200; now += 50) {
        while (cr_rate_take(r, 7, "x", now) == 0) {
            sent[n++] = now;
            cr_rate_done(r, 7, "x", now + 10); /* the platform answered at once */
        }
    }
    assert_true(n >= 30); /* it did publish: about limit per window */
    for (int i = 0; i + limit < n; i++)
        assert_true(sent[i + limit] - sent[i] >= window);
    cr_rate_destroy(&r);
}

/* The application's limit covers every account of the platform. */
static void test_platform_window(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_int_equal(cr_rate_set_platform(r, "linkedin", 100, 1000, 5, 5000), 0);
    for (int64_t a = 1; a <= 5; a++) assert_int_equal(cr_rate_take(r, a, "linkedin", T0), 0);
    assert_int_equal(cr_rate_take(r, 6, "linkedin", T0), T0 + 5000);
    /* a give-back makes room again */
    cr_rate_give_back(r, 1, "linkedin", T0);
    assert_int_equal(cr_rate_take(r, 6, "linkedin", T0), 0);
    for (int64_t a = 2; a <= 6; a++) cr_rate_done(r, a, "linkedin", T0 + 10 * a);
    assert_int_equal(cr_rate_take(r, 7, "linkedin", T0 + 100), T0 + 5020);
    cr_rate_destroy(&r);
}

/* Headers cap what may go until their reset; remaining 0 waits for the
 * reset; a 429 blocks; hostile resets are not believed. */
static void test_observe_and_block(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_int_equal(cr_rate_set_platform(r, "mastodon", 300, 10800000, 0, 0), 0);
    cr_rate_observe(r, 9, "mastodon", 300, 2, T0 + 60000, T0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), 0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), 0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), T0 + 60000);
    /* a higher remaining in the same window never raises the cap */
    cr_rate_observe(r, 9, "mastodon", 300, 250, T0 + 60000, T0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), T0 + 60000);
    /* after the reset, our own window decides */
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0 + 60000), 0);

    /* the other publications in flight count against what is left: the
     * platform had not seen them when it answered */
    for (int i = 0; i < 3; i++) assert_int_equal(cr_rate_take(r, 14, "mastodon", T0), 0);
    cr_rate_observe(r, 14, "mastodon", 300, 3, T0 + 9000, T0 + 50);
    cr_rate_done(r, 14, "mastodon", T0 + 50);
    assert_int_equal(cr_rate_take(r, 14, "mastodon", T0 + 50), 0);
    assert_int_equal(cr_rate_take(r, 14, "mastodon", T0 + 50), T0 + 9000);

    cr_rate_observe(r, 10, "mastodon", 300, 0, T0 + 5000, T0);
    assert_int_equal(cr_rate_take(r, 10, "mastodon", T0 + 100), T0 + 5000);
    /* a reset years away is not believed: the window decides */
    cr_rate_observe(r, 11, "mastodon", 300, 0, T0 + 400LL * 86400000, T0);
    assert_int_equal(cr_rate_take(r, 11, "mastodon", T0), 0);

    cr_rate_block(r, 12, "mastodon", T0 + 7000, T0);
    assert_int_equal(cr_rate_take(r, 12, "mastodon", T0), T0 + 7000);
    /* after the wait the account goes on at its pace: the refusal may have
     * been another limit's */
    for (int i = 0; i < 10; i++) assert_int_equal(cr_rate_take(r, 12, "mastodon", T0 + 7000), 0);
    /* unknown retry time: a minute */
    assert_int_equal(cr_rate_set_platform(r, "x", 100, 900000, 0, 0), 0);
    cr_rate_block(r, 13, "x", 0, T0);
    assert_int_equal(cr_rate_take(r, 13, "x", T0), T0 + 60000);
    cr_rate_destroy(&r);
}

static void s_collect(int64_t account, int64_t until, void *arg)
{
    int64_t *sum = arg;
    sum[0] += account;
    sum[1] = until;
}

static void test_blocked_list_and_prune(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_int_equal(cr_rate_set_platform(r, "x", 1, 1000, 0, 0), 0);
    /* many accounts: the table grows */
    for (int64_t a = 1; a <= 5000; a++) {
        assert_int_equal(cr_rate_take(r, a, "x", T0), 0);
        cr_rate_done(r, a, "x", T0);
    }
    assert_int_equal(cr_rate_accounts(r), 5000);
    int64_t got[2] = {0, 0};
    assert_int_equal(cr_rate_each_blocked(r, T0, s_collect, got), 5000);
    assert_int_equal(got[0], 5000LL * 5001 / 2);
    assert_int_equal(got[1], T0 + 1000);
    /* a window later, all free again: pruned, except one blocked and one
     * in flight */
    assert_int_equal(cr_rate_each_blocked(r, T0 + 1000, NULL, NULL), 0);
    cr_rate_block(r, 77, "x", T0 + 9000, T0 + 1000);
    assert_int_equal(cr_rate_take(r, 78, "x", T0 + 1000), 0);
    cr_rate_prune(r, T0 + 1000);
    assert_int_equal(cr_rate_accounts(r), 2);
    assert_int_equal(cr_rate_take(r, 77, "x", T0 + 1000), T0 + 9000);
    assert_int_equal(cr_rate_take(r, 78, "x", T0 + 1000), T0 + 2000);
    assert_int_equal(cr_rate_take(r, 79, "x", T0 + 1000), 0);
    cr_rate_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_window),
        cmocka_unit_test(test_never_more_than_limit_per_window),
        cmocka_unit_test(test_platform_window),
        cmocka_unit_test(test_observe_and_block),
        cmocka_unit_test(test_blocked_list_and_prune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
