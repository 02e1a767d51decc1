import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql, openSession, session, signOut } from './api';
import { ExportView, ImportView } from './data';
import { HistoryView, JobView, PlanView } from './jobs';
import { ModelsView } from './models';
import './style.css';

const PROVIDERS = `{ providers {
  relational { provider reachable location error }
  vector { provider reachable location error collection dimensions storedDimensions storedModel count mismatch }
  embeddings { provider reachable model dimensions error }
  llm { provider reachable location model error } } }`;

const PROFILES = `{ migrationProfiles { name
  relational { provider reachable location error }
  vector { provider reachable location error collection dimensions storedDimensions storedModel count persistDir mismatch } } }`;

type Profile = { name: string; relational: Health; vector: Health };

type Health = { provider: string; reachable: boolean; location?: string | null; error?: string | null; [k: string]: unknown };

/** Where the operator is: #/providers, #/plan, #/export, #/import[/<file>], #/jobs, #/job/<id>, #/models. */
function useRoute(): [string, string | undefined] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/') as [string, string | undefined];
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return [route[0] || 'providers', route[1]];
}

/** Paste an admin token (or, in development, one click); the API decides: a non-admin token is refused here. */
function Login({ onIn }: { onIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [dev, setDev] = useState(false);
  useEffect(() => {
    fetch('/console-auth/dev-login', { method: 'HEAD' }).then((r) => setDev(r.ok), () => setDev(false));
  }, []);
  const tryToken = async (t: string) => {
    try {
      await gql('{ migrations { id } }', {}, t.trim());
      await openSession(t.trim());
      session.token = t.trim();
      setError(null);
      onIn();
    } catch (e) {
      const code = e instanceof ApiError ? e.code : undefined;
      setError(code === 'FORBIDDEN' ? 'This token is not an admin\u2019s: the console needs the admin role.' : `Not signed in: ${(e as Error).message}`);
    }
  };
  const devLogin = async () => {
    const r = await fetch('/console-auth/dev-login', { method: 'POST' });
    if (r.ok) await tryToken(((await r.json()) as { token: string }).token);
  };
  return (
    <main class="login">
      <h1>Switchyard console</h1>
      <label for="token">Admin token (a JWT with the admin role)</label>
      <textarea id="token" rows={4} value={token} onInput={(e) => setToken((e.target as HTMLTextAreaElement).value)} />
      <div class="row">
        <button onClick={() => tryToken(token)} disabled={!token.trim()}>Sign in</button>
        {dev && <button class="secondary" onClick={devLogin}>Development login</button>}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </main>
  );
}

function HealthRow({ name, h }: { name: string; h: Health }) {
  const extra = Object.entries(h).filter(([k, v]) => !['provider', 'reachable', 'location', 'error', '__typename'].includes(k) && v !== null && v !== undefined);
  return (
    <tr>
      <th>{name}</th>
      <td>{h.provider}</td>
      <td class={h.reachable ? 'ok' : 'bad'}>{h.reachable ? 'reachable' : 'unreachable'}</td>
      <td>{h.location ?? ''}</td>
      <td>{extra.map(([k, v]) => `${k}: ${String(v)}`).join(' · ')}{h.error ? <span class="bad"> {h.error}</span> : null}</td>
    </tr>
  );
}

/** Each source profile (MIGRATION_<NAME>_*), opened read-only as a job opens it. */
function ProfilesTable() {
  const [profiles, setProfiles] = useState<Profile[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    gql<{ migrationProfiles: Profile[] }>(PROFILES).then((d) => setProfiles(d.migrationProfiles), (e) => setError((e as Error).message));
  }, []);
  if (error) return <p class="error">{error}</p>;
  if (!profiles) return <p>Opening the source profiles…</p>;
  if (!profiles.length) return <p class="hint">No source profile is configured (MIGRATION_&lt;NAME&gt;_RELATIONAL_DB_* and MIGRATION_&lt;NAME&gt;_VECTOR_DB_*).</p>;
  return (
    <table class="grid" data-testid="profiles">
      <thead><tr><th /><th>provider</th><th>state</th><th>location</th><th>details</th></tr></thead>
      <tbody>
        {profiles.flatMap((pr) => [
          <HealthRow key={`${pr.name}.r`} name={`${pr.name} · relational`} h={pr.relational} />,
          <HealthRow key={`${pr.name}.v`} name={`${pr.name} · vector`} h={pr.vector} />,
        ])}
      </tbody>
    </table>
  );
}

function ProvidersView() {
  const [p, setP] = useState<Record<string, Health> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    gql<{ providers: Record<string, Health> }>(PROVIDERS).then((d) => setP(d.providers), (e) => setError((e as Error).message));
  }, []);
  if (error) return <p class="error">{error}</p>;
  if (!p) return <p>Loading…</p>;
  const mismatch = p.vector?.mismatch as string | null;
  return (
    <section>
      <h2>Active providers</h2>
      <table class="grid">
        <thead><tr><th /><th>provider</th><th>state</th><th>location</th><th>details</th></tr></thead>
        <tbody>{Object.entries(p).map(([k, h]) => <HealthRow key={k} name={k} h={h} />)}</tbody>
      </table>
      {mismatch && <p class="error" role="alert">{mismatch}</p>}
      <h2>Source profiles</h2>
      <ProfilesTable />
      <p class="hint">A dry run (Plan) counts each table and collection of a profile against the active store.</p>
    </section>
  );
}

const decoded = (arg: string | undefined) => {
  try {
    return arg && decodeURIComponent(arg);
  } catch {
    return arg;
  }
};

function View({ route, arg }: { route: string; arg: string | undefined }) {
  if (route === 'plan') return <PlanView />;
  if (route === 'export') return <ExportView />;
  if (route === 'import') return <ImportView key={arg} file={decoded(arg)} />;
  if (route === 'jobs') return <HistoryView />;
  if (route === 'models') return <ModelsView />;
  if (route === 'job' && arg) return <JobView id={arg} />;
  return <ProvidersView />;
}

function App() {
  const [signedIn, setSignedIn] = useState(!!session.token);
  const [route, arg] = useRoute();
  const [queues, setQueues] = useState(false);
  useEffect(() => {
    // bull-board is mounted only with MIGRATION_QUEUE=bullmq (it answers the session cookie)
    if (signedIn) fetch('/console/queues/', { method: 'HEAD' }).then((r) => setQueues(r.ok), () => setQueues(false));
  }, [signedIn]);
  if (!signedIn) return <Login onIn={() => setSignedIn(true)} />;
  const tab = (id: string, label: string) => <a href={`#/${id}`} class={route === id ? 'active' : ''}>{label}</a>;
  return (
    <div>
      <header>
        <strong>Switchyard</strong>
        <nav>
          {tab('providers', 'Providers')}{tab('plan', 'Plan')}{tab('export', 'Export')}{tab('import', 'Import')}{tab('jobs', 'History')}{tab('models', 'Models')}
          {queues && <a href="/console/queues/" target="_blank" rel="noopener">Queues</a>}
        </nav>
        <button class="secondary" onClick={() => (signOut(), setSignedIn(false))}>Sign out</button>
      </header>
      <main>
        <View route={route} arg={arg} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
