import { useEffect, useState } from 'preact/hooks';
import { gql, Job, JOB_FIELDS } from './api';
import { DESTRUCTIVE, PlanResult, POLICIES, waitFinished } from './jobs';

const KINDS = ['VECTORS', 'RELATIONAL'];
const ACTIVE = '';
const value = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;
const checked = (e: Event) => (e.target as HTMLInputElement).checked;

/** Source profile names (MIGRATION_<NAME>_*) for the Export form; the active providers are always offered. */
function useProfiles(): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    gql<{ migrationProfiles: { name: string }[] }>('{ migrationProfiles { name } }').then((d) => setNames(d.migrationProfiles.map((p) => p.name)), () => setNames([]));
  }, []);
  return names;
}

/**
 * Export (exportData): a dataset of the active providers or of a source profile streamed to an NDJSON file
 * inside MIGRATION_DATA_DIR. The API checks the path (no "..", no symlink, not outside the data dir) and
 * refuses an existing file without overwrite; its message shows here and the form keeps what was typed.
 */
export function ExportView() {
  const profiles = useProfiles();
  const [kind, setKind] = useState('VECTORS');
  const [source, setSource] = useState(ACTIVE);
  const [typed, setPath] = useState<string | null>(null);
  const path = typed ?? `exports/${kind.toLowerCase()}-${new Date().toISOString().slice(0, 10)}.ndjson`;
  const [overwrite, setOverwrite] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const input = { kind, path, overwrite, ...(source === ACTIVE ? {} : { source }) };
      const { exportData } = await gql<{ exportData: Job }>('mutation($i: ExportDataInput!) { exportData(input: $i) { id } }', { i: input });
      location.hash = `#/job/${exportData.id}`;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>Export to a file</h2>
      <div class="row">
        <label>kind <select value={kind} onChange={(e) => setKind(value(e))}>{KINDS.map((k) => <option key={k}>{k}</option>)}</select></label>
        <label>
          source profile{' '}
          <select value={source} onChange={(e) => setSource(value(e))}>
            <option value={ACTIVE}>active providers</option>
            {profiles.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </label>
        <label>file <input size={40} value={path} onInput={(e) => setPath(value(e))} /></label>
        <label><input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(checked(e))} /> overwrite an existing file</label>
        <button onClick={start} disabled={busy || !path.trim()}>Export {kind}</button>
      </div>
      <p class="hint">The file is a path inside the migration data dir (MIGRATION_DATA_DIR); it is written whole when the export finishes, or not at all. The job page shows the progress.</p>
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}

/**
 * Import (importData): an NDJSON export from MIGRATION_DATA_DIR loaded into the active providers, with an
 * onConflict policy; a dry run first shows the plan (or the refusal) and writes nothing.
 */
export function ImportView({ file }: { file?: string }) {
  const [kind, setKind] = useState('VECTORS');
  const [path, setPath] = useState(file ?? '');
  const [onConflict, setOnConflict] = useState('FAIL');
  const [exports, setExports] = useState<string[]>([]);
  const [plan, setPlan] = useState<Job | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // the files earlier exports wrote, to pick from (any other path inside the data dir may be typed)
    gql<{ migrations: Job[] }>('{ migrations { kind status target } }').then(
      (d) => setExports([...new Set(d.migrations.filter((j) => j.kind === 'EXPORT' && j.status.startsWith('SUCCEEDED')).map((j) => j.target.slice(5)))]),
      () => setExports([]),
    );
  }, []);
  useEffect(() => setPlan(null), [kind, path, onConflict]);
  const send = async (dryRun: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const { importData } = await gql<{ importData: Job }>(`mutation($i: ImportDataInput!) { importData(input: $i) { ${dryRun ? JOB_FIELDS : 'id'} } }`, { i: { kind, path, onConflict, dryRun } });
      if (dryRun) setPlan(await waitFinished(importData.id));
      else location.hash = `#/job/${importData.id}`;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const start = () => {
    if (DESTRUCTIVE.has(onConflict) && !confirm(`onConflict ${onConflict} replaces what the active store holds (a backup is taken first). Import ${path}?`)) return;
    void send(false);
  };
  return (
    <section>
      <h2>Import a file</h2>
      <div class="row">
        <label>kind <select value={kind} onChange={(e) => setKind(value(e))}>{KINDS.map((k) => <option key={k}>{k}</option>)}</select></label>
        <label>file <input size={40} list="export-files" value={path} onInput={(e) => setPath(value(e))} /></label>
        <datalist id="export-files">{exports.map((f) => <option key={f} value={f} />)}</datalist>
        <label>onConflict <select value={onConflict} onChange={(e) => setOnConflict(value(e))}>{POLICIES.map((k) => <option key={k}>{k}</option>)}</select></label>
        <button class="secondary" onClick={() => send(true)} disabled={busy || !path.trim()}>Dry run</button>
        <button onClick={start} disabled={busy || !path.trim()}>Import {kind}</button>
      </div>
      <p class="hint">Into the active providers, from a path inside the migration data dir (MIGRATION_DATA_DIR). FAIL: a record already there is an error; SKIP keeps the one there, OVERWRITE and TRUNCATE replace them after a backup.</p>
      {error && <p class="error" role="alert">{error}</p>}
      {plan && <PlanResult plan={plan} />}
    </section>
  );
}
