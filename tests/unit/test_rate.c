/* cr_rate: the broker's token buckets per account and per platform. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cr_rate.h"

#define T0 1763800000000LL /* some unix ms */

/* 3 posts per 3 s per account: three go at once, the fourth waits a second. */
static void test_account_bucket(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_non_null(r);
    assert_int_equal(cr_rate_set_platform(r, "x", 3, 3000, 0, 0), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(cr_rate_take(r, 1, "x", T0), 0);
    int64_t at = cr_rate_take(r, 1, "x", T0);
    assert_true(at >= T0 + 999 && at <= T0 + 1001);
    /* another account of the same platform is not affected */
    assert_int_equal(cr_rate_take(r, 2, "x", T0), 0);
    /* a second later, one more */
    assert_int_equal(cr_rate_take(r, 1, "x", T0 + 1000), 0);
    assert_true(cr_rate_take(r, 1, "x", T0 + 1000) > T0 + 1000);
    /* a platform without limits never waits */
    for (int i = 0; i < 1000; i++) assert_int_equal(cr_rate_take(r, 3, "mastodon", T0), 0);
    cr_rate_destroy(&r);
    assert_null(r);
}

/* The application's limit covers every account of the platform. */
static void test_platform_bucket(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_int_equal(cr_rate_set_platform(r, "linkedin", 100, 1000, 5, 5000), 0);
    for (int64_t a = 1; a <= 5; a++) assert_int_equal(cr_rate_take(r, a, "linkedin", T0), 0);
    int64_t at = cr_rate_take(r, 6, "linkedin", T0);
    assert_true(at >= T0 + 999 && at <= T0 + 1001);
    /* a give-back makes room again */
    cr_rate_give_back(r, 1, "linkedin", T0);
    assert_int_equal(cr_rate_take(r, 6, "linkedin", T0), 0);
    cr_rate_destroy(&r);
}

/* Headers lower the tokens; remaining 0 blocks until the reset; a 429 blocks. */
static void test_observe_and_block(void **state)
{
    (void)state;
    cr_rate_t *r = cr_rate_new();
    assert_int_equal(cr_rate_set_platform(r, "mastodon", 300, 10800000, 0, 0), 0);
    cr_rate_observe(r, 9, "mastodon", 300, 2, T0 + 60000, T0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), 0);
    assert_int_equal(cr_rate_take(r, 9, "mastodon", T0), 0);
    assert_true(cr_rate_take(r, 9, "mastodon", T0) > T0);
    /* a higher remaining never raises the tokens */
    cr_rate_observe(r, 9, "mastodon", 300, 250, T0 + 60000, T0);
    assert_true(cr_rate_take(r, 9, "mastodon", T0) > T0);

    cr_rate_observe(r, 10, "mastodon", 300, 0, T0 + 5000, T0);
    assert_int_equal(cr_rate_take(r, 10, "mastodon", T0 + 100), T0 + 5000);
    /* a reset years away is not believed: the bucket's own refill decides
     * (one post per 36 s at 300 per 3 h) */
    cr_rate_observe(r, 11, "mastodon", 300, 0, T0 + 400LL * 86400000, T0);
    assert_int_equal(cr_rate_take(r, 11, "mastodon", T0), T0 + 36000);

    cr_rate_block(r, 12, "mastodon", T0 + 7000, T0);
    assert_int_equal(cr_rate_take(r, 12, "mastodon", T0), T0 + 7000);
    /* after the wait the account goes on at its pace: the refusal may have
     * been another limit's, the posts' bucket kept its tokens */
    for (int i = 0; i < 10; i++) assert_int_equal(cr_rate_take(r, 12, "mastodon", T0 + 7000), 0);
    /* unknown retry time: a minute */
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
    for (int64_t a = 1; a <= 5000; a++) assert_int_equal(cr_rate_take(r, a, "x", T0), 0);
    assert_int_equal(cr_rate_accounts(r), 5000);
    int64_t got[2] = {0, 0};
    assert_int_equal(cr_rate_each_blocked(r, T0, s_collect, got), 5000);
    assert_int_equal(got[0], 5000LL * 5001 / 2);
    /* a second later, all full again: pruned */
    assert_int_equal(cr_rate_each_blocked(r, T0 + 1000, NULL, NULL), 0);
    cr_rate_block(r, 77, "x", T0 + 9000, T0 + 1000);
    cr_rate_prune(r, T0 + 1000);
    assert_int_equal(cr_rate_accounts(r), 1);
    assert_int_equal(cr_rate_take(r, 77, "x", T0 + 1000), T0 + 9000);
    assert_int_equal(cr_rate_take(r, 78, "x", T0 + 1000), 0);
    cr_rate_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_bucket),
        cmocka_unit_test(test_platform_bucket),
        cmocka_unit_test(test_observe_and_block),
        cmocka_unit_test(test_blocked_list_and_prune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
