// pg-boss no-op throughput (driver of bench/compare.sh).
//
// usage: node pgboss.mjs --jobs N [--procs P] [--batch-size B] [--local-concurrency L]
//                        [--timeout-s T]
//
// The database (libpq environment) must be empty: the parent installs the
// schema (start()), creates the queue "noop" (standard policy) and inserts N
// jobs with insert() (one call per 10,000 jobs), then times P worker processes
// from their start (new PgBoss + start + work) until every job is in state
// 'completed' in pgboss.job (completed jobs stay there until maintenance
// deletes them days later).
//
// Worker settings, pg-boss's batching: work() with batchSize B (one fetch
// claims B jobs, the handler gets the array, and pg-boss completes the whole
// batch in one statement when the handler returns), localConcurrency L
// fetch-and-complete loops per process, and burstWhenBatchFull so that a
// worker fetches again at once while fetches come back full instead of
// waiting for the polling interval (0.5 s, the minimum, for the tail).
import { fileURLToPath } from "node:url";
import { parseArgs, runParent, runChild, withClient, log, sleep } from "./common.mjs";

const args = parseArgs(process.argv.slice(2));
const QUEUE = "noop";
const batchSize = Number(args["batch-size"] || 1000);
const localConcurrency = Number(args["local-concurrency"] || 2);

function connection() {
  const env = process.env;
  return {
    host: env.PGHOST,
    port: env.PGPORT ? Number(env.PGPORT) : undefined,
    user: env.PGUSER,
    password: env.PGPASSWORD,
    database: env.PGDATABASE,
  };
}

if (args.child !== undefined) {
  const { PgBoss } = await import("pg-boss");
  runChild(async (report) => {
    const boss = new PgBoss({ ...connection(), schedule: false });
    boss.on("error", (e) => log(`pg-boss error: ${e.message}`));
    await boss.start();
    let count = 0;
    await boss.work(
      QUEUE,
      { batchSize, localConcurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
      async (jobs) => {
        count += jobs.length;
        report.count(count);
      },
    );
    return () => boss.stop({ graceful: true, timeout: 5000 });
  });
} else {
  const jobs = Number(args.jobs);
  const procs = Number(args.procs || 1);
  const timeoutMs = Number(args["timeout-s"] || 300) * 1000;
  if (!(jobs > 0) || !(procs > 0)) {
    console.error("usage: node pgboss.mjs --jobs N [--procs P] [--batch-size B] [--local-concurrency L]");
    process.exit(2);
  }
  const { PgBoss } = await import("pg-boss");
  const setup = new PgBoss({ ...connection(), supervise: false, schedule: false });
  setup.on("error", (e) => log(`pg-boss error: ${e.message}`));
  await setup.start();
  await setup.createQueue(QUEUE);
  const chunk = 10000;
  for (let done = 0; done < jobs; done += chunk) {
    const n = Math.min(chunk, jobs - done);
    await setup.insert(QUEUE, Array.from({ length: n }, () => ({ data: {} })));
  }
  await setup.stop({ graceful: false, wait: true });
  await withClient(async (c) => {
    await c.query("vacuum analyze pgboss.job");
    const { rows } = await c.query("select count(*)::int as n from pgboss.job where name = $1", [QUEUE]);
    if (rows[0].n !== jobs) throw new Error(`inserted ${rows[0].n} jobs instead of ${jobs}`);
  });
  log(`pg-boss: ${jobs} jobs queued, ${procs} process(es), batchSize ${batchSize}, localConcurrency ${localConcurrency}, burstWhenBatchFull`);

  const counts = (c) =>
    c.query(
      `select count(*) filter (where state = 'completed')::int as done,
              count(*) filter (where state <> 'completed')::int as left
       from pgboss.job where name = $1`,
      [QUEUE],
    );
  await runParent({
    script: fileURLToPath(import.meta.url),
    procs,
    jobs,
    timeoutMs,
    childArgs: ["--batch-size", String(batchSize), "--local-concurrency", String(localConcurrency)],
    // the handlers have seen every job; then wait for the last batches'
    // completions to be committed
    waitDone: async (ctx) => {
      while (ctx.executed() < jobs) await ctx.waitChange();
      await withClient(async (c) => {
        while (!ctx.failed()) {
          const { rows } = await counts(c);
          if (rows[0].done >= jobs) return;
          await sleep(5);
        }
      });
    },
    verify: () =>
      withClient(async (c) => {
        const { rows } = await counts(c);
        const r = rows[0];
        let detail = "";
        if (r.left) {
          const s = await c.query("select state, count(*)::int as n from pgboss.job where name = $1 group by 1", [QUEUE]);
          detail = `pg-boss states: ${s.rows.map((x) => `${x.state} ${x.n}`).join(", ")}`;
        }
        return { done: r.done, left: r.left, detail };
      }),
  });
}
