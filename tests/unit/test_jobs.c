/* cr_jobs: the broker's map, timer heap and ready queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cr_jobs.h"

static cr_job_t *s_job(int64_t id, int64_t due)
{
    cr_job_t *j = cr_job_new(id, 1, CRIEUR__JOB_KIND__KIND_PUBLISH, due);
    assert_non_null(j);
    cr_job_set_account(j, 7, 3, "mastodon", "alice", "http://x", "secret-token");
    cr_job_set_publish(j, id * 10, "hello", "key", NULL);
    return j;
}

static void test_map_insert_find_remove(void **state)
{
    (void)state;
    cr_jobs_t *jobs = cr_jobs_new();
    assert_non_null(jobs);
    /* enough to force several growths, with removals in between */
    for (int64_t i = 1; i <= 20000; i++) {
        cr_job_t *j = s_job(i, i);
        assert_int_equal(cr_jobs_insert(jobs, j), 0);
        cr_jobs_ready_push(jobs, j);
        if (i % 3 == 0) {
            cr_job_t *r = cr_jobs_remove(jobs, i - 1);
            assert_non_null(r);
            assert_int_equal(r->id, i - 1);
            cr_job_destroy(&r);
            assert_null(r);
        }
    }
    assert_int_equal(cr_jobs_count(jobs), 20000 - 20000 / 3);
    assert_int_equal(cr_jobs_ready(jobs), cr_jobs_count(jobs));
    assert_null(cr_jobs_find(jobs, 2));
    assert_non_null(cr_jobs_find(jobs, 3));
    assert_null(cr_jobs_find(jobs, 999999));
    /* duplicate id refused */
    cr_job_t *dup = s_job(3, 0);
    assert_int_equal(cr_jobs_insert(jobs, dup), -1);
    cr_job_destroy(&dup);
    /* ready queue keeps insertion order */
    cr_job_t *h = cr_jobs_ready_pop(jobs);
    assert_int_equal(h->id, 1);
    h = cr_jobs_ready_pop(jobs);
    assert_int_equal(h->id, 3);
    cr_jobs_destroy(&jobs);
    assert_null(jobs);
    cr_jobs_destroy(&jobs); /* safe twice */
}

/* Jobs due at the same time leave in the order they were claimed (the fair
 * order the claim returns), not in the order of their ids. */
static void test_ties_keep_claim_order(void **state)
{
    (void)state;
    cr_jobs_t *jobs = cr_jobs_new();
    int64_t ids[] = {900, 15, 402, 7, 333, 1, 88, 250, 12, 600};
    for (int i = 0; i < 10; i++) {
        cr_job_t *j = s_job(ids[i], 1000);
        assert_int_equal(cr_jobs_insert(jobs, j), 0);
        cr_jobs_hold(jobs, j);
    }
    cr_job_t *top;
    for (int i = 0; i < 10; i++) {
        top = cr_jobs_peek_held(jobs);
        assert_non_null(top);
        assert_int_equal(top->id, ids[i]);
        cr_jobs_ready_push(jobs, top);
    }
    cr_job_t *j = cr_jobs_ready_pop(jobs);
    assert_int_equal(j->id, 900);
    cr_jobs_hold(jobs, j);
    j = cr_jobs_ready_pop(jobs);
    assert_int_equal(j->id, 15);
    cr_jobs_hold(jobs, j);
    /* held again at the same time (a rate limit's wait): 900 was claimed
     * first, it goes first although 15 is the smaller id */
    assert_int_equal(cr_jobs_peek_held(jobs)->id, 900);
    cr_jobs_destroy(&jobs);
}

static void test_heap_orders_by_due_then_claim(void **state)
{
    (void)state;
    cr_jobs_t *jobs = cr_jobs_new();
    int64_t dues[] = {50, 10, 40, 10, 30, 20, 60, 5};
    for (int i = 0; i < 8; i++) {
        cr_job_t *j = s_job(i + 1, dues[i]);
        assert_int_equal(cr_jobs_insert(jobs, j), 0);
        cr_jobs_hold(jobs, j);
    }
    assert_int_equal(cr_jobs_held(jobs), 8);
    /* remove one from the middle of the heap */
    cr_job_t *r = cr_jobs_remove(jobs, 3); /* due 40 */
    cr_job_destroy(&r);
    int64_t expect_id[] = {8, 2, 4, 6, 5, 1, 7};
    for (int i = 0; i < 7; i++) {
        cr_job_t *top = cr_jobs_peek_held(jobs);
        assert_non_null(top);
        assert_int_equal(top->id, expect_id[i]);
        cr_jobs_ready_push(jobs, top); /* leaves the heap */
        assert_int_equal(top->state, CR_JOB_READY);
    }
    assert_null(cr_jobs_peek_held(jobs));
    assert_int_equal(cr_jobs_ready(jobs), 7);
    /* removing a ready job unlinks it from the queue */
    r = cr_jobs_remove(jobs, 6);
    cr_job_destroy(&r);
    assert_int_equal(cr_jobs_ready(jobs), 6);
    int seen = 0;
    for (cr_job_t *j; (j = cr_jobs_ready_pop(jobs));) {
        assert_int_not_equal(j->id, 6);
        seen++;
    }
    assert_int_equal(seen, 6);
    cr_jobs_destroy(&jobs);
}

static void test_task_fields(void **state)
{
    (void)state;
    cr_job_t *j = s_job(42, 1234);
    assert_int_equal(j->task.job_id, 42);
    assert_int_equal(j->task.attempt, 1);
    assert_int_equal(j->task.due_ms, 1234);
    assert_int_equal(j->task.payload_case, CRIEUR__TASK__PAYLOAD_PUBLISH);
    assert_string_equal(j->task.account->token, "secret-token");
    assert_string_equal(j->task.publish->body, "hello");
    assert_string_equal(j->task.publish->link, "");
    assert_int_equal(j->role, CRIEUR__ROLE__ROLE_PUBLISHER);
    cr_job_t *m = cr_job_new(1, 1, CRIEUR__JOB_KIND__KIND_MONITOR, 0);
    assert_int_equal(m->role, CRIEUR__ROLE__ROLE_MONITOR);
    cr_job_destroy(&m);
    cr_job_destroy(&j);
}

static void test_pg_array(void **state)
{
    (void)state;
    char **it;
    size_t n;
    assert_int_equal(cr_pg_array_parse("{}", 16, &it, &n), 0);
    assert_int_equal(n, 0);
    cr_pg_array_free(it, n);
    assert_int_equal(cr_pg_array_parse("{/tmp/a.jpg,https://x.y/b.png}", 16, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(it[0], "/tmp/a.jpg");
    assert_string_equal(it[1], "https://x.y/b.png");
    cr_pg_array_free(it, n);
    /* quoted: spaces, commas, quotes and backslashes escaped; NULL */
    assert_int_equal(cr_pg_array_parse("{\"a b,c\",\"say \\\"hi\\\"\",\"back\\\\slash\",NULL,\"NULL\"}", 16,
                                       &it, &n),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(it[0], "a b,c");
    assert_string_equal(it[1], "say \"hi\"");
    assert_string_equal(it[2], "back\\slash");
    assert_string_equal(it[3], "");
    assert_string_equal(it[4], "NULL");
    cr_pg_array_free(it, n);
    /* malformed or too many: refused, nothing leaked (ASan) */
    const char *bad[] = {"", "{", "}", "a,b", "{a,b", "{\"a}", "{a\"b}", "{{a}}", "{a,}x", "{a}}", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(cr_pg_array_parse(bad[i], 16, &it, &n), -1);
    assert_int_equal(cr_pg_array_parse("{a,b,c}", 2, &it, &n), -1);
    /* on a job: media reach the task */
    cr_job_t *j = s_job(9, 0);
    assert_int_equal(cr_job_set_media(j, "{/tmp/a.jpg}"), 0);
    assert_int_equal(j->task.publish->n_media, 1);
    assert_string_equal(j->task.publish->media[0], "/tmp/a.jpg");
    assert_int_equal(cr_job_set_media(j, "{broken"), -1);
    cr_job_destroy(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_array),
        cmocka_unit_test(test_map_insert_find_remove),
        cmocka_unit_test(test_heap_orders_by_due_then_claim),
        cmocka_unit_test(test_ties_keep_claim_order),
        cmocka_unit_test(test_task_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
