import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { embeddingModelName, SwitchyardConfig, SwitchyardConfigModule } from '@switchyard/core';
import { EmbeddingsModule } from '@switchyard/embeddings';
import { KnowledgeModule } from '@switchyard/knowledge';
import { LlmModule } from '@switchyard/llm';
import { MigrationModule } from '@switchyard/migration';
import { RelationalDbModule } from '@switchyard/relational-db';
import { VectorDbModule } from '@switchyard/vector-db';
import { AuthGuard, Authenticator } from './auth/auth';
import { AuthModule } from './auth/auth.module';
import { DomainErrorFilter, toGraphQLError } from './graphql/errors';
import { operationLimits, wsLimits } from './graphql/limits';
import { GraphQLError, GraphQLSchema } from 'graphql';
import { HealthModule } from './health/health.module';
import { LoggerModule } from 'nestjs-pino';
import { loggingOptions } from './logging';
import { graphqlMetrics } from './metrics/graphql-metrics.plugin';
import { Metrics } from './metrics/metrics';
import { MetricsModule } from './metrics/metrics.module';
import { KnowledgeResolver } from './knowledge/knowledge.resolver';
import { MigrationResolver } from './migration/migration.resolver';
import { ConsoleModule } from './console/console.module';

/** The runnable app: every provider from one validated config, GraphQL at /graphql. */
@Module({})
export class AppModule {
  static forRoot(config: SwitchyardConfig): DynamicModule {
    // The schema Apollo serves (kept for graphql-ws, whose hooks validate against it).
    let schema: GraphQLSchema | undefined;
    const production = config.env === 'production';
    return {
      module: AppModule,
      imports: [
        SwitchyardConfigModule.forRoot(config),
        LoggerModule.forRoot(loggingOptions(config)),
        RelationalDbModule.forRoot({ relational: config.relational }),
        VectorDbModule.forRoot({ vector: config.vector, model: embeddingModelName(config.embeddings) }),
        EmbeddingsModule.forRoot({ embeddings: config.embeddings }),
        LlmModule.forRoot({ llm: config.llm }),
        KnowledgeModule.forRoot({
          chunkSize: config.embeddings.chunkSize,
          chunkOverlap: config.embeddings.chunkOverlap,
          ...config.knowledge,
        }),
        MigrationModule.forRoot(),
        HealthModule,
        MetricsModule,
        AuthModule,
        ConsoleModule.forRoot(),
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          imports: [MetricsModule, AuthModule],
          inject: [Metrics, Authenticator],
          useFactory: (metrics: Metrics, auth: Authenticator) => ({
            autoSchemaFile: true,
            sortSchema: true,
            path: '/graphql',
            context: (ctx: { req?: unknown; extra?: unknown; connectionParams?: unknown }) => ctx,
            subscriptions: { 'graphql-ws': wsLimits(config, auth, () => schema) },
            validationRules: operationLimits(config),
            introspection: !production,
            // no "Did you mean ...?" naming fields in production
            hideSchemaDetailsFromClientErrors: production,
            plugins: [
              {
                serverWillStart: async (s: { schema: GraphQLSchema }) => {
                  schema = s.schema;
                },
              },
              graphqlMetrics(metrics),
            ],
            formatError: (formatted, error) => {
              const original = (error as { originalError?: unknown })?.originalError;
              // a domain error from a resolver gets its code; GraphQL's own (validation, limits) keep theirs
              return original && !(original instanceof GraphQLError) ? toGraphQLError(original).toJSON() : formatted;
            },
          }),
        }),
      ],
      providers: [AuthGuard, KnowledgeResolver, MigrationResolver, { provide: APP_FILTER, useClass: DomainErrorFilter }],
    };
  }
}
