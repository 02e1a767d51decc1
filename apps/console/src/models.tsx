import { useEffect, useState } from 'preact/hooks';
import { gql } from './api';

interface Generation { id: number; model: string; dimensions: number; collection: string; state: string; jobId: string | null; createdAt: string; changedAt: string }
interface Dropped extends Generation { backup: { file: string; records: number } | null }

const FIELDS = 'id model dimensions collection state jobId createdAt changedAt';

/**
 * The embedding generations (a BLUE_GREEN re-index builds one): cut over to a built one, roll back to the
 * one it replaced, drop one nobody searches (after a counted backup). The API decides what is allowed
 * (a generation whose re-index has not SUCCEEDED is refused); each button asks first.
 */
export function ModelsView() {
  const [gens, setGens] = useState<Generation[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const load = () => gql<{ modelGenerations: Generation[] }>(`{ modelGenerations { ${FIELDS} } }`).then((d) => setGens(d.modelGenerations), (e) => setError((e as Error).message));
  useEffect(() => void load(), []);
  const act = async (confirmText: string, run: () => Promise<string>) => {
    if (!confirm(confirmText)) return;
    setError(null);
    try {
      setInfo(await run());
    } catch (e) {
      setError((e as Error).message);
    }
    await load();
  };
  const cutOver = (g: Generation) =>
    act(`Cut over to generation ${g.id} (${g.model})? Every instance searches it within KNOWLEDGE_GENERATION_POLL_MS; the current one stays, written, for a rollback.`, async () => {
      const { switchModel } = await gql<{ switchModel: Generation }>(`mutation($g: Int!) { switchModel(generation: $g) { ${FIELDS} } }`, { g: g.id });
      return `Generation ${switchModel.id} (${switchModel.model}) is active.`;
    });
  const rollback = () =>
    act('Roll back to the generation the last cut-over replaced?', async () => {
      const { rollbackModelSwitch } = await gql<{ rollbackModelSwitch: Generation }>(`mutation { rollbackModelSwitch { ${FIELDS} } }`);
      return `Rolled back: generation ${rollbackModelSwitch.id} (${rollbackModelSwitch.model}) is active.`;
    });
  const drop = (g: Generation) =>
    act(`Drop generation ${g.id} (${g.model})? Writes stop going to it, it is backed up to a counted NDJSON file, then its collection is removed.`, async () => {
      const { dropModelGeneration: d } = await gql<{ dropModelGeneration: Dropped }>(`mutation($g: Int!) { dropModelGeneration(generation: $g) { ${FIELDS} backup { file records } } }`, { g: g.id });
      return `Generation ${d.id} dropped${d.backup ? `; its ${d.backup.records} records are in ${d.backup.file}` : ' (it held nothing)'}.`;
    });
  if (!gens) return error ? <p class="error">{error}</p> : <p>Loading…</p>;
  const hasPrevious = gens.some((g) => g.state === 'PREVIOUS');
  return (
    <section>
      <h2>Embedding models</h2>
      {gens.length === 0 ? (
        <p class="hint">No model switch yet: the active store is the only generation. A REINDEX with mode BLUE_GREEN (Plan) builds the next one (EMBEDDINGS_NEXT_*).</p>
      ) : (
        <table class="grid" data-testid="generations">
          <thead><tr><th>generation</th><th>model</th><th>dimensions</th><th>collection</th><th>state</th><th>built by</th><th>changed</th><th /></tr></thead>
          <tbody>
            {gens.map((g) => (
              <tr key={g.id} data-state={g.state}>
                <td>{g.id}</td>
                <td>{g.model}</td>
                <td>{g.dimensions}</td>
                <td>{g.collection}</td>
                <td class={g.state === 'ACTIVE' ? 'ok' : ''}>{g.state}</td>
                <td>{g.jobId ? <a href={`#/job/${g.jobId}`}>{g.jobId.slice(0, 8)}</a> : ''}</td>
                <td>{g.changedAt}</td>
                <td class="row">
                  {(g.state === 'BUILDING' || g.state === 'PREVIOUS') && <button onClick={() => cutOver(g)}>Cut over</button>}
                  {g.state === 'ACTIVE' && hasPrevious && <button class="secondary" onClick={rollback}>Roll back</button>}
                  {(g.state === 'BUILDING' || g.state === 'PREVIOUS') && <button class="danger" onClick={() => drop(g)}>Drop</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {info && <p class="ok" role="status">{info}</p>}
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
