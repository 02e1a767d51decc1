import { Inject, UseGuards } from '@nestjs/common';
import { Args, ID, Info, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { GraphQLResolveInfo } from 'graphql';
import { selectsField } from '../graphql/selection';
import { BadInputError, errorMessage, SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { KnowledgeService } from '@switchyard/knowledge';
import { Llm } from '@switchyard/llm';
import { DocumentEntity, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { AuthGuard, Caller, CurrentUser } from '../auth/auth';
import { Answer, DocumentModel, IndexDocumentInput, ProviderStatus, SearchHit } from './knowledge.types';

const toModel = (d: DocumentEntity): DocumentModel => ({
  id: d.externalId,
  title: d.title,
  content: d.content,
  contentBytes: d.contentBytes,
  chunkCount: d.chunkCount,
  embeddingModel: d.embeddingModel,
  indexedAt: d.indexedAt,
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

@Resolver()
@UseGuards(AuthGuard)
export class KnowledgeResolver {
  constructor(
    private readonly knowledge: KnowledgeService,
    private readonly relational: RelationalDb,
    private readonly vector: VectorDb,
    private readonly embeddings: Embeddings,
    private readonly llm: Llm,
    @Inject(SWITCHYARD_CONFIG) private readonly config: SwitchyardConfig,
  ) {}

  @Mutation(() => DocumentModel)
  async indexDocument(@CurrentUser() caller: Caller, @Args('input') input: IndexDocumentInput): Promise<DocumentModel> {
    const { document } = await this.knowledge.indexDocument(caller.userId, input);
    return toModel(document);
  }

  @Mutation(() => Boolean)
  deleteDocument(@CurrentUser() caller: Caller, @Args('id', { type: () => ID }) id: string): Promise<boolean> {
    return this.knowledge.deleteDocument(caller.userId, id);
  }

  @Query(() => [DocumentModel], { description: 'The caller\'s documents in id order, a page at a time: the next page is `after` the last id of this one.' })
  async documents(
    @CurrentUser() caller: Caller,
    @Info() info: GraphQLResolveInfo,
    @Args('first', { type: () => Int, nullable: true, description: 'At most this many (default and maximum GRAPHQL_MAX_PAGE).' }) first: number | null,
    @Args('after', { type: () => ID, nullable: true }) after: string | null,
  ): Promise<DocumentModel[]> {
    const max = this.config.graphql.maxPage;
    if (first !== null && first !== undefined && (!Number.isInteger(first) || first < 1 || first > max)) throw new BadInputError('first', `must be an integer from 1 to ${max} (GRAPHQL_MAX_PAGE)`);
    const page = await this.knowledge.pageDocuments(caller.userId, { first: first ?? max, after, withContent: selectsField(info, 'content') });
    return page.map(toModel);
  }

  @Query(() => DocumentModel, { nullable: true })
  async document(@CurrentUser() caller: Caller, @Args('id', { type: () => ID }) id: string): Promise<DocumentModel | null> {
    const d = await this.knowledge.getDocument(caller.userId, id);
    return d ? toModel(d) : null;
  }

  @Query(() => [SearchHit])
  searchKnowledge(
    @CurrentUser() caller: Caller,
    @Args('query') query: string,
    @Args('limit', { type: () => Int, defaultValue: 5 }) limit: number,
  ): Promise<SearchHit[]> {
    return this.knowledge.search(caller.userId, query, limit);
  }

  @Query(() => Answer)
  answerQuestion(@CurrentUser() caller: Caller, @Args('question') question: string): Promise<Answer> {
    return this.knowledge.answer(caller.userId, question);
  }

  /** Where the stores are (URLs, file paths) only for admins: every other caller sees kinds and states. */
  @Query(() => ProviderStatus)
  async providers(@CurrentUser() caller: Caller): Promise<ProviderStatus> {
    const admin = caller.roles.includes('admin');
    const hide = (text: string | null | undefined): string | null => {
      if (!text || admin) return text ?? null;
      return [this.relational.label, this.vector.location].reduce((t, where) => t.split(where).join('<location hidden>'), text);
    };
    const [relationalUp, vectorUp, llmUp] = await Promise.all([this.relational.ping(), this.vector.ping(), this.llm.ping()]);
    const info = vectorUp ? await this.vector.describe().catch(() => null) : null;
    let embeddingsError: string | null = null;
    const embeddingsUp = await this.embeddings.embed(['ping']).then(
      () => true,
      (e) => ((embeddingsError = errorMessage(e)), false),
    );
    return {
      relational: { provider: this.relational.provider, reachable: relationalUp, location: admin ? this.relational.label : null },
      vector: {
        provider: this.vector.provider,
        reachable: vectorUp,
        location: admin ? this.vector.location : null,
        collection: this.vector.collection,
        dimensions: this.vector.dimensions,
        storedDimensions: info?.storedDimensions ?? null,
        storedModel: info?.storedModel ?? null,
        count: info?.count ?? null,
        mismatch: hide(info?.mismatch),
      },
      embeddings: { provider: this.embeddings.provider, model: this.embeddings.model, dimensions: this.embeddings.dimensions, reachable: embeddingsUp, error: admin ? embeddingsError : embeddingsError && 'the embedding model is not available (details for admins)' },
      llm: { provider: this.llm.provider, model: this.llm.model, reachable: llmUp },
    };
  }
}
