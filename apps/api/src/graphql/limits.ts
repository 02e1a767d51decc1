import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { SwitchyardConfig } from '@switchyard/core';
import { GraphQLError, GraphQLSchema, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, ValidationContext, ValidationRule } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import type { Authenticator } from '../auth/auth';

/**
 * What one GraphQL operation may ask for, over HTTP and graphql-ws alike (graphql-armor's validation
 * rules, applied before anything runs): depth, aliases (1,000 aliased `indexDocument` would be 1,000
 * writes) and a cost. In production, no introspection. Each refusal is a GraphQL validation error
 * (`GRAPHQL_VALIDATION_FAILED`) naming the limit and its variable.
 */
export function operationLimits(config: SwitchyardConfig): ValidationRule[] {
  const g = config.graphql;
  // armor throws by default (an internal error); report the refusal as a validation error naming the variable
  const refuse = (variable: string) => ({
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(new GraphQLError(`${err.message.replace(/^Syntax Error: /, '')} (${variable})`))],
  });
  const rules: ValidationRule[] = [
    maxDepthRule({ n: g.maxDepth, ...refuse('GRAPHQL_MAX_DEPTH') }) as unknown as ValidationRule,
    maxAliasesRule({ n: g.maxAliases, ...refuse('GRAPHQL_MAX_ALIASES') }) as unknown as ValidationRule,
    costLimitRule({ maxCost: g.maxCost, ...refuse('GRAPHQL_MAX_COST') }) as unknown as ValidationRule,
  ];
  if (config.env === 'production') rules.push(NoSchemaIntrospectionCustomRule);
  return rules;
}

/**
 * graphql-ws hooks: in production a connection needs a valid token before anything (no schema for
 * strangers); every subscribe message is validated with the same limits as HTTP.
 */
export function wsLimits(config: SwitchyardConfig, auth: Authenticator, schema: () => GraphQLSchema | undefined) {
  const rules = [...specifiedRules, ...operationLimits(config)];
  return {
    onConnect: async (ctx: Context<Record<string, unknown> | undefined>) => {
      if (config.env !== 'production') return true;
      const p = ctx.connectionParams ?? {};
      try {
        await auth.caller((p.Authorization ?? p.authorization) as string | undefined);
        return true;
      } catch {
        return false; // graphql-ws closes with 4403 Forbidden
      }
    },
    onSubscribe: (_ctx: Context<Record<string, unknown> | undefined>, _id: string, payload: SubscribePayload) => {
      const s = schema();
      if (!s) return undefined;
      let doc;
      try {
        doc = parse(payload.query);
      } catch (e) {
        return [e instanceof GraphQLError ? e : new GraphQLError(String(e))];
      }
      const errors = validate(s, doc, rules);
      // undefined: graphql-ws goes on as usual (Nest's context and execution)
      return errors.length ? errors : undefined;
    },
  };
}
