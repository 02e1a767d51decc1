/**
 * What the libraries report about their work, for whoever watches (the app's Prometheus metrics): the
 * libraries depend on no metrics package, the app subscribes. Observers must be cheap and must not throw.
 */
export type TelemetryEvent =
  /** One call to a provider (vector store, embeddings model, LLM): how long, and whether it failed (the error code). */
  | { kind: 'provider-call'; port: 'vector' | 'embeddings' | 'llm'; provider: string; op: string; seconds: number; error: string | null }
  /** One knowledge operation (index, delete, search, answer) as the caller saw it. */
  | { kind: 'knowledge'; op: 'index' | 'delete' | 'search' | 'answer'; seconds: number; error: string | null };

type Observer = (e: TelemetryEvent) => void;
const observers = new Set<Observer>();

/** Subscribes to telemetry; returns the unsubscribe. */
export function observeTelemetry(o: Observer): () => void {
  observers.add(o);
  return () => observers.delete(o);
}

export function emitTelemetry(e: TelemetryEvent): void {
  for (const o of observers) {
    try {
      o(e);
    } catch {
      // a broken observer never breaks the work it watches
    }
  }
}

/** Runs `fn`, reporting its duration and outcome through `event` (given seconds and the error code or null). */
export async function timed<T>(fn: () => Promise<T>, event: (seconds: number, error: string | null) => TelemetryEvent): Promise<T> {
  const t0 = performance.now();
  try {
    const out = await fn();
    if (observers.size) emitTelemetry(event((performance.now() - t0) / 1000, null));
    return out;
  } catch (e) {
    if (observers.size) emitTelemetry(event((performance.now() - t0) / 1000, (e as { code?: unknown })?.code ? String((e as { code: unknown }).code) : 'INTERNAL'));
    throw e;
  }
}
