import type { ApolloServerPlugin } from '@apollo/server';
import type { Metrics } from './metrics';

/** An Apollo plugin timing every operation into the metrics (name, type, outcome: ok or the first error code). */
/**
 * The operation is named by its first root field (`indexDocument`, `searchKnowledge`): a bounded set,
 * where the client's own operation names would let any caller add label values without end.
 */
export function graphqlMetrics(metrics: Metrics): ApolloServerPlugin {
  return {
    async requestDidStart() {
      const t0 = performance.now();
      return {
        async willSendResponse(ctx) {
          const body = ctx.response.body;
          const errors = body.kind === 'single' ? body.singleResult.errors : undefined;
          const outcome = errors?.length ? String(errors[0].extensions?.code ?? 'ERROR') : 'ok';
          const root = ctx.operation?.selectionSet.selections.find((s) => s.kind === 'Field');
          const operation = root && root.kind === 'Field' ? root.name.value : 'invalid';
          metrics.graphql.observe({ operation, type: ctx.operation?.operation ?? 'invalid', outcome }, (performance.now() - t0) / 1000);
        },
      };
    },
  };
}
