// Graphile Worker no-op throughput (driver of bench/compare.sh).
//
// usage: node graphile.mjs --jobs N --procs P --mode default|batched [--timeout-s T]
//
// The database (libpq environment) must be empty: the parent installs the
// schema, enqueues N no-op jobs with graphile_worker.add_jobs (one call per
// 50,000 jobs), then times P worker processes in runOnce mode (each one runs
// until it finds no job left, as Graphile Worker's own performance test does)
// from their start to the last one's end. Completed jobs are deleted by
// Graphile Worker, so done = N - rows left in graphile_worker._private_jobs.
//
// Modes:
//   default  the library's defaults (concurrentJobs 1, maxPoolSize 10, no
//            local queue, one completion statement per job)
//   batched  the settings of Graphile Worker's performance test:
//            perfTest/graphile.config.js in github.com/graphile/worker
//            (concurrentJobs 24, maxPoolSize 25, localQueue size 500 with a
//            10 ms refetch delay, completeJobBatchDelay 0, failJobBatchDelay
//            0), also given as the configuration of the figures on
//            https://worker.graphile.org/docs/performance
//
// NO_LOG_SUCCESS=1 (set by compare.sh, as the performance test does) keeps
// the library from logging one line per completed job.
import { fileURLToPath } from "node:url";
import { parseArgs, runParent, runChild, withClient, log } from "./common.mjs";

const args = parseArgs(process.argv.slice(2));
const mode = args.mode || "default";
if (!["default", "batched"].includes(mode)) {
  console.error(`graphile.mjs: unknown mode ${mode}`);
  process.exit(2);
}

const SCHEMA = "graphile_worker";
const BATCHED = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500, refetchDelay: { durationMs: 10 } },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};
const preset = { worker: mode === "batched" ? { ...BATCHED } : {} };

if (args.child !== undefined) {
  const { runOnce } = await import("graphile-worker");
  runChild(async (report) => {
    let count = 0;
    const taskList = {
      noop: async () => {
        count++;
        if ((count & 1023) === 0) report.count(count);
      },
    };
    await runOnce({ preset, taskList, noHandleSignals: true });
    report.done(count);
  });
} else {
  const jobs = Number(args.jobs);
  const procs = Number(args.procs || 1);
  const timeoutMs = Number(args["timeout-s"] || 300) * 1000;
  if (!(jobs > 0) || !(procs > 0)) {
    console.error("usage: node graphile.mjs --jobs N --procs P --mode default|batched [--timeout-s T]");
    process.exit(2);
  }
  const { runMigrations } = await import("graphile-worker");
  await runMigrations({ preset });
  await withClient(async (c) => {
    const chunk = 50000;
    for (let done = 0; done < jobs; done += chunk) {
      const n = Math.min(chunk, jobs - done);
      await c.query(
        `select count(*) from ${SCHEMA}.add_jobs(array(
           select ('noop', '{}'::json, null, null, null, null, null, null)::${SCHEMA}.job_spec
           from generate_series(1, $1::int)))`,
        [n],
      );
    }
    await c.query(`vacuum analyze ${SCHEMA}._private_jobs`);
    const { rows } = await c.query(`select count(*)::int as n from ${SCHEMA}._private_jobs`);
    if (rows[0].n !== jobs) throw new Error(`enqueued ${rows[0].n} jobs instead of ${jobs}`);
  });
  log(`graphile ${mode}: ${jobs} jobs queued, ${procs} process(es), settings ${JSON.stringify(preset.worker)}`);

  await runParent({
    script: fileURLToPath(import.meta.url),
    procs,
    jobs,
    timeoutMs,
    childArgs: ["--mode", mode],
    // every worker process found the queue empty and returned
    waitDone: async (ctx) => {
      while (!ctx.allFinished()) await ctx.waitChange();
    },
    verify: () =>
      withClient(async (c) => {
        const { rows } = await c.query(
          `select count(*)::int as left, count(*) filter (where locked_at is not null)::int as locked,
                  count(*) filter (where attempts > 0)::int as tried
           from ${SCHEMA}._private_jobs`,
        );
        const r = rows[0];
        return {
          done: jobs - r.left,
          left: r.left,
          detail: r.left ? `graphile: ${r.left} jobs left (${r.locked} locked, ${r.tried} attempted)` : "",
        };
      }),
  });
}
