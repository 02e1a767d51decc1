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
import { AuthGuard } from './auth/auth';
import { DomainErrorFilter, toGraphQLError } from './graphql/errors';
import { HealthModule } from './health/health.module';
import { KnowledgeResolver } from './knowledge/knowledge.resolver';
import { MigrationResolver } from './migration/migration.resolver';

/** The runnable app: every provider from one validated config, GraphQL at /graphql. */
@Module({})
export class AppModule {
  static forRoot(config: SwitchyardConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SwitchyardConfigModule.forRoot(config),
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
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          sortSchema: true,
          path: '/graphql',
          context: (ctx: { req?: unknown; extra?: unknown; connectionParams?: unknown }) => ctx,
          subscriptions: { 'graphql-ws': true },
          formatError: (formatted, error) => {
            const original = (error as { originalError?: unknown })?.originalError;
            return original ? toGraphQLError(original).toJSON() : formatted;
          },
        }),
      ],
      providers: [AuthGuard, KnowledgeResolver, MigrationResolver, { provide: APP_FILTER, useClass: DomainErrorFilter }],
    };
  }
}
