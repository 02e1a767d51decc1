import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER } from '@nestjs/core';
import { embeddingModelName } from '@switchyard/core';
import { EmbeddingsModule } from '@switchyard/embeddings';
import { KnowledgeModule } from '@switchyard/knowledge';
import { LlmModule } from '@switchyard/llm';
import { MigrationModule, migrationOptionsFromConfig } from '@switchyard/migration';
import { RelationalDbModule } from '@switchyard/relational-db';
import { VectorDbModule } from '@switchyard/vector-db';
import { HostSchema1764700000000 } from './migrations/1764700000000-host-schema';
import { Note } from './notes/note.entity';
import { NotesController } from './notes/notes.controller';
import { NotesService } from './notes/notes.service';
import { switchyard, switchyardConfig } from './switchyard.config';
import { SwitchyardErrorFilter } from './switchyard-error.filter';
import { User } from './users/user.entity';

/**
 * The host app: its own entities, controller and service, and Switchyard's modules configured from
 * @nestjs/config. Every Switchyard module is global, so NotesService can inject RelationalDb and KnowledgeService.
 */
@Module({
  imports: [
    ConfigModule.forRoot({ load: [switchyardConfig] }),
    RelationalDbModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        relational: switchyard(config).relational,
        // The host's entities share Switchyard's DataSource; their tables come from the host's own migrations.
        entities: [User, Note],
        migrations: [HostSchema1764700000000],
      }),
    }),
    VectorDbModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        vector: switchyard(config).vector,
        model: embeddingModelName(switchyard(config).embeddings),
      }),
    }),
    EmbeddingsModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({ embeddings: switchyard(config).embeddings }),
    }),
    LlmModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({ llm: switchyard(config).llm }),
    }),
    KnowledgeModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        const { embeddings, knowledge } = switchyard(config);
        return { chunkSize: embeddings.chunkSize, chunkOverlap: embeddings.chunkOverlap, ...knowledge };
      },
    }),
    MigrationModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => migrationOptionsFromConfig(switchyard(config)),
    }),
  ],
  controllers: [NotesController],
  providers: [NotesService, { provide: APP_FILTER, useClass: SwitchyardErrorFilter }],
})
export class AppModule {}
