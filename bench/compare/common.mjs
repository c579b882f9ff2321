// Shared by the drivers of bench/compare.sh: argument parsing, a pg client,
// and the timing harness.
//
// The database comes from the libpq environment (PGHOST, PGPORT, PGUSER,
// PGPASSWORD, PGDATABASE), which node-postgres reads too; compare.sh sets it.
//
// A driver runs as a parent that prepares the database (schema, N jobs) and
// forks `procs` worker processes. Each worker loads its library, says "ready"
// and waits; the clock starts when every worker is ready and told to "go",
// and stops when the driver's `finished` promise resolves (every job done and
// committed). The parent then checks the database and prints one line:
//   RESULT jobs=N ms=T rate=R executed=E ok=1
import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import pg from "pg";

export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out[key] = true;
    else { out[key] = next; i++; }
  }
  return out;
}

export function log(...args) {
  console.error(`[${new Date().toISOString()}]`, ...args);
}

// One short-lived client for the parent's own SQL (set-up and checks).
export async function withClient(fn) {
  const client = new pg.Client({ application_name: "crieur-compare" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Parent side. opts: { script, procs, childArgs, timeoutMs, jobs,
//   waitDone(ctx) -> Promise (resolves when all jobs are done; ctx.executed()
//   is the sum the workers reported, ctx.allExited() says whether every
//   worker has finished on its own), verify() -> {done, left, detail} }
export async function runParent(opts) {
  const { script, procs, childArgs, timeoutMs, jobs } = opts;
  const children = [];
  const counts = new Array(procs).fill(0);
  const finished = new Array(procs).fill(false);
  let failure = null;
  let waiters = [];
  const changed = () => { const w = waiters; waiters = []; for (const r of w) r(); };
  const waitChange = () => new Promise((r) => { waiters.push(r); });

  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  const onSignal = (sig) => { log(`got ${sig}: stopping the workers`); killAll(); process.exit(1); };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const deadline = Date.now() + timeoutMs;
  const timer = setInterval(() => {
    if (Date.now() > deadline && !failure) {
      failure = `timed out after ${Math.round(timeoutMs / 1000)} s`;
      changed();
    }
  }, 100);

  const ready = new Array(procs).fill(false);
  let stopping = false;
  for (let i = 0; i < procs; i++) {
    const c = fork(script, ["--child", String(i), ...childArgs], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(c);
    c.on("message", (m) => {
      if (m.type === "ready") ready[i] = true;
      else if (m.type === "count") counts[i] = m.count;
      else if (m.type === "done") { counts[i] = m.count; finished[i] = true; }
      else if (m.type === "error") failure = failure || `worker ${i}: ${m.message}`;
      changed();
    });
    c.on("exit", (code, sig) => {
      if (!finished[i] && !failure && !stopping) failure = `worker ${i} exited (code ${code}, signal ${sig}) before finishing`;
      changed();
    });
  }
  const ctx = {
    executed: () => counts.reduce((a, b) => a + b, 0),
    allFinished: () => finished.every(Boolean),
    failed: () => failure,
    waitChange,
  };

  let t0 = 0, t1 = 0;
  try {
    while (!ready.every(Boolean) && !failure) await waitChange();
    if (failure) throw new Error(failure);
    t0 = performance.now();
    for (const c of children) c.send({ type: "go" });
    await Promise.race([
      opts.waitDone(ctx),
      (async () => { while (!failure) await waitChange(); throw new Error(failure); })(),
    ]);
    t1 = performance.now();
  } catch (e) {
    failure = failure || String(e && e.message ? e.message : e);
  }
  clearInterval(timer);

  // stop the workers: ask, then kill after 10 s
  stopping = true;
  for (const c of children) if (c.connected) c.send({ type: "stop" });
  const stopBy = Date.now() + 10000;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < stopBy) await sleep(20);
  killAll();

  let v;
  try {
    v = await opts.verify();
  } catch (e) {
    v = { done: -1, left: -1, detail: `verification failed: ${e.message}` };
  }
  const executed = ctx.executed();
  const ms = t1 - t0;
  let ok = !failure && v.done === jobs && v.left === 0;
  if (!failure && !ok) failure = `${v.done} of ${jobs} jobs done in the database, ${v.left} left`;
  if (ok && executed !== jobs) {
    // more handler calls than jobs: a job ran twice (allowed by at-least-once
    // queues, but not expected in a clean run)
    log(`note: the handlers ran ${executed} times for ${jobs} jobs`);
  }
  if (v.detail) log(v.detail);
  if (failure) {
    console.log(`FAILED ${failure}; handlers ran ${executed} times; database: ${v.done} done, ${v.left} left`);
    process.exit(1);
  }
  const rate = Math.round((jobs * 1000) / ms);
  console.log(`RESULT jobs=${jobs} ms=${ms.toFixed(0)} rate=${rate} executed=${executed} ok=1`);
  process.exit(0);
}

// Child side: report ready, run start() on "go", exit on "stop" or when the
// parent goes away. start(report) gets report.count(n) and report.done(n).
export function runChild(start) {
  const send = (m) => { if (process.connected) process.send(m); };
  process.on("disconnect", () => process.exit(1));
  let stop = async () => {};
  process.on("message", async (m) => {
    if (m.type === "go") {
      try {
        const s = await start({
          count: (n) => send({ type: "count", count: n }),
          done: (n) => send({ type: "done", count: n }),
        });
        if (typeof s === "function") stop = s;
      } catch (e) {
        send({ type: "error", message: e && e.stack ? e.stack : String(e) });
      }
    } else if (m.type === "stop") {
      try { await stop(); } catch (e) { log(`stop: ${e.message}`); }
      process.exit(0);
    }
  });
  send({ type: "ready" });
}
