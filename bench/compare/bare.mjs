// The bare SQL loop (driver of bench/compare.sh): what PostgreSQL itself
// allows for claim + done with durable commits, without any queue library.
//
// usage: node bare.mjs --jobs N --mode plpgsql|client [--batch 1000] [--timeout-s T]
//
// A simple table bare_job (identity primary key, kind, payload, run_at) gets
// N rows (one INSERT ... SELECT, then VACUUM ANALYZE as for every system).
// Each iteration, its own committed transaction (synchronous_commit as the
// server has it), claims up to --batch rows in id order with FOR UPDATE SKIP
// LOCKED and deletes them by id array, until none is left. One connection.
//   plpgsql  a procedure called once, COMMIT per iteration inside it: no
//            client round trip at all (the server-side ceiling)
//   client   the loop in this process: BEGIN; SELECT ids ... FOR UPDATE SKIP
//            LOCKED (the ids travel to the client); DELETE ... WHERE id =
//            any($1); COMMIT (what a worker outside the database pays)
import { performance } from "node:perf_hooks";
import { parseArgs, withClient, log } from "./common.mjs";

const args = parseArgs(process.argv.slice(2));
const jobs = Number(args.jobs);
const mode = args.mode || "plpgsql";
const batch = Number(args.batch || 1000);
const timeoutMs = Number(args["timeout-s"] || 300) * 1000;
if (!(jobs > 0) || !["plpgsql", "client"].includes(mode)) {
  console.error("usage: node bare.mjs --jobs N --mode plpgsql|client [--batch 1000]");
  process.exit(2);
}
const timer = setTimeout(() => {
  console.log(`FAILED timed out after ${Math.round(timeoutMs / 1000)} s`);
  process.exit(1);
}, timeoutMs);
timer.unref();

const result = await withClient(async (c) => {
  await c.query(`drop table if exists bare_job`);
  await c.query(`create table bare_job (
      id bigint generated always as identity primary key,
      kind text not null,
      payload jsonb not null default '{}',
      run_at timestamptz not null default now())`);
  await c.query(`create or replace procedure bare_drain(batch int, inout claimed bigint default 0)
    language plpgsql as $$
    declare
      ids bigint[];
    begin
      loop
        select array_agg(id) into ids
          from (select id from bare_job order by id limit batch for update skip locked) c;
        exit when ids is null;
        delete from bare_job where id = any (ids);
        claimed := claimed + cardinality(ids);
        commit;
      end loop;
    end $$`);
  await c.query(`insert into bare_job (kind) select 'noop' from generate_series(1, $1::int)`, [jobs]);
  await c.query(`vacuum analyze bare_job`);
  log(`bare ${mode}: ${jobs} rows, batches of ${batch}`);

  let claimed = 0;
  const t0 = performance.now();
  if (mode === "plpgsql") {
    const { rows } = await c.query(`call bare_drain($1::int)`, [batch]);
    claimed = Number(rows[0].claimed);
  } else {
    for (;;) {
      await c.query("begin");
      const { rows } = await c.query(
        "select id from bare_job order by id limit $1 for update skip locked",
        [batch],
      );
      if (rows.length === 0) {
        await c.query("commit");
        break;
      }
      const ids = rows.map((r) => r.id);
      await c.query("delete from bare_job where id = any ($1::bigint[])", [ids]);
      await c.query("commit");
      claimed += ids.length;
    }
  }
  const ms = performance.now() - t0;
  const { rows } = await c.query("select count(*)::int as left from bare_job");
  await c.query(`drop table bare_job`);
  return { ms, claimed, left: rows[0].left };
});

if (result.left !== 0 || result.claimed !== jobs) {
  console.log(`FAILED ${result.claimed} of ${jobs} rows claimed and deleted, ${result.left} left`);
  process.exit(1);
}
const rate = Math.round((jobs * 1000) / result.ms);
console.log(`RESULT jobs=${jobs} ms=${result.ms.toFixed(0)} rate=${rate} executed=${result.claimed} ok=1`);
process.exit(0);
