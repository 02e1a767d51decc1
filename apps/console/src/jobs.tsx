import { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql, Job, JOB_FIELDS, socket } from './api';

/** The API's final statuses (FINAL_STATUSES): a job in one of them changes no more. */
const FINISHED = new Set(['PLANNED', 'SUCCEEDED', 'SUCCEEDED_WITH_REJECTS', 'CUT_OVER', 'FAILED', 'CANCELLED']);
/** The onConflict policies, and those that replace what the target holds (confirmed first; a backup is taken). */
export const POLICIES = ['FAIL', 'SKIP', 'OVERWRITE', 'TRUNCATE'];
export const DESTRUCTIVE = new Set(['TRUNCATE', 'OVERWRITE']);

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const duration = (j: Job) => (j.startedAt ? secs((j.finishedAt ? Date.parse(j.finishedAt) : Date.now()) - Date.parse(j.startedAt)) : '');

/** Polls a job until it is in a final status. */
export async function waitFinished(id: string): Promise<Job> {
  for (;;) {
    const { migration } = await gql<{ migration: Job }>(`query($id: ID!) { migration(id: $id) { ${JOB_FIELDS} } }`, { id });
    if (FINISHED.has(migration.status)) return migration;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A finished dry run: its plan per table / collection, accepted or refused with the reason; then what may follow. */
export function PlanResult({ plan, children }: { plan: Job; children?: ComponentChildren }) {
  const steps = (plan.plan?.steps ?? []) as Record<string, unknown>[];
  const cols = [...new Set(steps.flatMap((s) => Object.keys(s)))].filter((k) => typeof steps[0]?.[k] !== 'object');
  const refusal = plan.plan?.refusal;
  return (
    <div class="plan">
      <table class="grid">
        <thead><tr>{cols.map((c) => <th key={c}>{c}</th>)}</tr></thead>
        <tbody>{steps.map((s, i) => <tr key={i}>{cols.map((c) => <td key={c}>{String(s[c] ?? '')}</td>)}</tr>)}</tbody>
      </table>
      {refusal ? <p class="error" role="alert">Refused ({refusal.code}): {refusal.message}</p> : plan.error ? <p class="error" role="alert">{plan.errorCode}: {plan.error}</p> : <p class="ok">The plan is accepted: nothing was written.</p>}
      {children}
    </div>
  );
}

/** A dry run's plan as a table (per table / collection), with the refusal when refused; then the real start. */
export function PlanView() {
  const [kind, setKind] = useState('FULL_STACK');
  const [source, setSource] = useState('source');
  const [onConflict, setOnConflict] = useState('FAIL');
  const [mode, setMode] = useState('IN_PLACE');
  const [plan, setPlan] = useState<Job | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const blueGreen = kind === 'REINDEX' && mode === 'BLUE_GREEN';
  // A BLUE_GREEN re-index writes by key into its own generation: no source, no onConflict (the API refuses them).
  const input = () => (blueGreen ? { kind, mode } : kind === 'REINDEX' ? { kind, onConflict, mode } : { kind, source, onConflict });
  const dryRun = async () => {
    setBusy(true);
    setError(null);
    try {
      const { startMigration } = await gql<{ startMigration: Job }>(`mutation($i: StartMigrationInput!) { startMigration(input: $i) { id } }`, { i: { ...input(), dryRun: true } });
      setPlan(await waitFinished(startMigration.id));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const start = async () => {
    if (!blueGreen && DESTRUCTIVE.has(onConflict) && !confirm(`onConflict ${onConflict} replaces what the target holds (a backup is taken first). Start the ${kind} migration?`)) return;
    try {
      const { startMigration } = await gql<{ startMigration: Job }>(`mutation($i: StartMigrationInput!) { startMigration(input: $i) { id } }`, { i: input() });
      location.hash = `#/job/${startMigration.id}`;
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section>
      <h2>Plan a migration</h2>
      <div class="row">
        <label>kind <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>{['FULL_STACK', 'RELATIONAL', 'VECTORS', 'REINDEX'].map((k) => <option key={k}>{k}</option>)}</select></label>
        {kind !== 'REINDEX' && <label>source profile <input value={source} onInput={(e) => setSource((e.target as HTMLInputElement).value)} /></label>}
        {!blueGreen && <label>onConflict <select value={onConflict} onChange={(e) => setOnConflict((e.target as HTMLSelectElement).value)}>{POLICIES.map((k) => <option key={k}>{k}</option>)}</select></label>}
        {kind === 'REINDEX' && <label>mode <select value={mode} onChange={(e) => setMode((e.target as HTMLSelectElement).value)}>{['IN_PLACE', 'BLUE_GREEN'].map((k) => <option key={k}>{k}</option>)}</select></label>}
        {blueGreen ? <button onClick={start}>Start {kind}</button> : <button onClick={dryRun} disabled={busy}>Dry run</button>}
      </div>
      {blueGreen && <p class="hint">A BLUE_GREEN re-index has no dry run: it writes only a new generation, which nothing searches until you cut over to it (Models).</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {plan && <PlanResult plan={plan}>{!plan.plan?.refusal && <button onClick={start}>Start {kind}</button>}</PlanResult>}
    </section>
  );
}

/** A small rate-over-time chart (records/s after each batch). */
function RateChart({ samples }: { samples: number[] }) {
  if (samples.length < 2) return null;
  const max = Math.max(...samples, 1);
  const pts = samples.map((v, i) => `${(i / (samples.length - 1)) * 300},${60 - (v / max) * 56}`).join(' ');
  return (
    <svg class="chart" viewBox="0 0 300 60" aria-label="rate over time">
      <polyline points={pts} fill="none" stroke="currentColor" stroke-width="2" />
      <text x="2" y="10">{Math.round(max)}/s</text>
    </svg>
  );
}

/** The NDJSON file of an EXPORT (written whole at the end, or not at all) or an IMPORT, inside MIGRATION_DATA_DIR. */
function DataFile({ job }: { job: Job }) {
  const side = job.kind === 'EXPORT' ? job.target : job.kind === 'IMPORT' ? job.source : '';
  if (!side.startsWith('file:')) return null;
  const file = <code>{side.slice(5)}</code>;
  const said =
    job.kind === 'IMPORT' ? <>Read from {file}</>
    : job.status.startsWith('SUCCEEDED') ? <>Written to {file}</>
    : FINISHED.has(job.status) ? <>Nothing was written to {file}</>
    : <>Writing {file} (it appears, whole, when the export finishes)</>;
  return <p data-testid="data-file">{said}, inside the migration data dir (MIGRATION_DATA_DIR).</p>;
}

/** One job, live over graphql-ws: a bar per step, rate and ETA, phase; then verification, backups, rejects and the next action. */
export function JobView({ id }: { id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rates = useRef<number[]>([]);
  const load = () => gql<{ migration: Job | null }>(`query($id: ID!) { migration(id: $id) { ${JOB_FIELDS} } }`, { id }).then((d) => (d.migration ? setJob(d.migration) : setError(`No job ${id}`)), (e) => setError((e as Error).message));
  useEffect(() => {
    rates.current = [];
    setJob(null);
    setError(null);
    void load();
    const stop = socket().subscribe<{ migrationProgress: Job }>(
      { query: `subscription($id: ID!) { migrationProgress(id: $id) { ${JOB_FIELDS} } }`, variables: { id } },
      {
        next: (m) => {
          const j = m.data?.migrationProgress;
          if (!j) return;
          if (j.progress) rates.current = [...rates.current, j.progress.ratePerSecond].slice(-120);
          setJob(j);
        },
        error: (e) => setError(String((e as Error)?.message ?? e)),
        complete: () => void load(),
      },
    );
    return stop;
  }, [id]);
  const act = async (what: string, mutation: string, confirmText?: string) => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      const d = await gql<Record<string, Job>>(mutation, { id });
      const next = d[what];
      if (next.id !== id) location.hash = `#/job/${next.id}`;
      else setJob(next);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (!job) return error ? <p class="error">{error}</p> : <p>Loading…</p>;
  const p = job.progress;
  const pct = (done: number, total: number) => (total > 0 ? Math.min(100, Math.round((done / total) * 100)) : job.status === 'SUCCEEDED' ? 100 : 0);
  const v = job.verification;
  const rejected = p?.steps.reduce((n, s) => n + s.errors, 0) ?? 0;
  const stopped = job.status === 'FAILED' || job.status === 'CANCELLED' || job.stale;
  return (
    <section class="job">
      <h2>
        {job.kind} job <code data-testid="job-id">{job.id}</code> <span class={`status ${job.status}`} data-testid="status">{job.status}</span>
      </h2>
      <p>
        {job.source} → {job.target} · onConflict {job.onConflict} · phase <b data-testid="phase">{p?.phase ?? '-'}</b> · {duration(job)}
        {p && p.ratePerSecond > 0 && ` · ${Math.round(p.ratePerSecond)} rows/s`}
        {p?.etaSeconds != null && job.status === 'RUNNING' && ` · ETA ${Math.round(p.etaSeconds)} s`}
      </p>
      <DataFile job={job} />
      {p && (
        <div class="bars">
          <div class="bar total" data-testid="total-bar" data-pct={pct(p.done, p.total)}><span style={{ width: `${pct(p.done, p.total)}%` }} /><em>all: {p.done} / {p.total} ({pct(p.done, p.total)} %)</em></div>
          {p.steps.map((s) => (
            <div key={s.name} class="bar"><span style={{ width: `${pct(s.read, s.total)}%` }} /><em>{s.name}: {s.read} / {s.total} read, {s.written} written{s.skipped ? `, ${s.skipped} skipped` : ''}{s.unchanged ? `, ${s.unchanged} unchanged` : ''}{s.errors ? `, ${s.errors} set aside` : ''}</em></div>
          ))}
        </div>
      )}
      <RateChart samples={rates.current} />
      {job.error && <p class="error" role="alert">{job.errorCode}: {job.error}</p>}
      {v && (
        <div>
          <h3>Verification: <span class={v.ok ? 'ok' : 'bad'} data-testid="verification">{v.ok ? 'OK' : 'FAILED'}</span>{v.recallAt10 != null && ` · recall@10 ${v.recallAt10}`}{v.orphans != null && ` · orphans ${v.orphans}`}</h3>
          <table class="grid">
            <thead><tr><th>table / collection</th><th>source</th><th>target</th><th>checksum</th></tr></thead>
            <tbody>{v.tables.map((t) => <tr key={t.name}><td>{t.name}</td><td>{t.sourceCount}</td><td>{t.targetCount}</td><td class={t.checksumMatch === false ? 'bad' : 'ok'}>{t.checksumMatch === null ? 'not compared' : t.checksumMatch ? `match ${t.targetChecksum}` : `differs: ${t.sourceChecksum} / ${t.targetChecksum}`}</td></tr>)}</tbody>
          </table>
          {v.notes.map((n) => <p key={n} class="hint">{n}</p>)}
        </div>
      )}
      {rejected > 0 && job.rejectFile && (
        <p class="bad" data-testid="rejects">
          Rejects: {rejected} records set aside, each with its reason, in <code>{job.rejectFile}</code> (inside MIGRATION_DATA_DIR).{' '}
          <a href={`/console/api/jobs/${encodeURIComponent(job.id)}/rejects`} download data-testid="rejects-download">Download (NDJSON)</a>
        </p>
      )}
      {rejected === 0 && v && <p class="hint" data-testid="rejects">Rejects: none.</p>}
      {job.backups.length > 0 && (
        <div>
          <h3>Backups</h3>
          <ul>{job.backups.map((b) => <li key={b.name}>{b.step}: {b.kind} {b.name}, {b.rows} rows, {b.createdAt}</li>)}</ul>
        </div>
      )}
      <div class="row actions">
        {job.status === 'RUNNING' && !job.stale && <button onClick={() => act('cancelMigration', 'mutation($id: ID!) { cancelMigration(id: $id) { id status } }', 'Cancel this job? It stops after the current batch and can be resumed.')}>Cancel</button>}
        {stopped && <button onClick={() => act('resumeMigration', `mutation($id: ID!) { resumeMigration(id: $id) { ${JOB_FIELDS} } }`)}>Resume</button>}
        {job.kind === 'EXPORT' && job.status.startsWith('SUCCEEDED') && <a class="button" href={`#/import/${encodeURIComponent(job.target.slice(5))}`}>Import this file…</a>}
        {job.kind === 'REINDEX' && job.mode === 'BLUE_GREEN' && job.status.startsWith('SUCCEEDED') && !job.dryRun && <a class="button" href="#/models">Cut over…</a>}
        {FINISHED.has(job.status) && job.backups.length > 0 && (
          <button class="danger" onClick={() => act('restoreBackup', 'mutation($id: ID!) { restoreBackup(jobId: $id) { id } }', 'Restore puts back what this job replaced, from its backups, and removes what it wrote. Restore?')}>Restore backup</button>
        )}
      </div>
    </section>
  );
}

/** Past jobs: status, duration, rows, verification. */
export function HistoryView() {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    gql<{ migrations: Job[] }>(`{ migrations { ${JOB_FIELDS} } }`).then((d) => setJobs(d.migrations), (e) => setError((e as Error).message));
  }, []);
  if (error) return <p class="error">{error}</p>;
  if (!jobs) return <p>Loading…</p>;
  return (
    <section>
      <h2>History</h2>
      <table class="grid">
        <thead><tr><th>job</th><th>kind</th><th>status</th><th>started</th><th>duration</th><th>rows</th><th>verification</th></tr></thead>
        <tbody>
          {jobs.map((j) => (
            <tr key={j.id}>
              <td><a href={`#/job/${j.id}`}>{j.id.slice(0, 8)}</a></td>
              <td>{j.kind}{j.dryRun ? ' (dry run)' : ''}</td>
              <td class={`status ${j.status}`}>{j.status}</td>
              <td>{j.startedAt ?? ''}</td>
              <td>{duration(j)}</td>
              <td>{j.progress?.done ?? ''}</td>
              <td class={j.verification ? (j.verification.ok ? 'ok' : 'bad') : ''}>{j.verification ? (j.verification.ok ? 'OK' : 'FAILED') : '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
