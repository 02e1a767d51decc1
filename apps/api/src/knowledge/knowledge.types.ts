import { Field, Float, ID, InputType, Int, ObjectType } from '@nestjs/graphql';

@ObjectType('Document')
export class DocumentModel {
  @Field(() => ID, { description: 'The id the caller chose (unique per user).' }) id: string;
  @Field(() => String, { nullable: true }) title: string | null;
  @Field() content: string;
  @Field(() => Int) contentBytes: number;
  @Field(() => Int) chunkCount: number;
  @Field(() => String, { nullable: true }) embeddingModel: string | null;
  @Field(() => Date, { nullable: true }) indexedAt: Date | null;
  @Field() createdAt: Date;
  @Field() updatedAt: Date;
}

@InputType()
export class IndexDocumentInput {
  @Field(() => ID, { nullable: true, description: 'Your id for the document; generated when omitted. Re-indexing replaces it.' }) documentId?: string;
  @Field(() => String, { nullable: true }) title?: string;
  @Field() content: string;
}

@ObjectType()
export class SearchHit {
  @Field(() => ID) documentId: string;
  @Field(() => Int) chunkIndex: number;
  @Field() content: string;
  @Field(() => Float) score: number;
  @Field(() => String, { nullable: true }) title: string | null;
  @Field({ description: 'The embedding model of the generation that answered (scores compare only within one model).' }) model: string;
}

@ObjectType()
export class Answer {
  @Field() text: string;
  @Field(() => [SearchHit]) sources: SearchHit[];
  @Field({ description: 'False when no stored passage was relevant and the LLM was not asked.' }) grounded: boolean;
}

@ObjectType()
export class ProviderHealth {
  @Field() provider: string;
  @Field() reachable: boolean;
  @Field(() => String, { nullable: true }) location?: string | null;
  @Field(() => String, { nullable: true }) error?: string | null;
}

@ObjectType()
export class VectorProviderHealth extends ProviderHealth {
  @Field() collection: string;
  @Field(() => Int) dimensions: number;
  @Field(() => Int, { nullable: true }) storedDimensions: number | null;
  @Field(() => String, { nullable: true }) storedModel: string | null;
  @Field(() => Int, { nullable: true }) count: number | null;
  @Field(() => String, { nullable: true, description: 'Why the store refuses writes (other dimensions or model), if it does.' }) mismatch: string | null;
}

@ObjectType()
export class EmbeddingsHealth extends ProviderHealth {
  @Field() model: string;
  @Field(() => Int) dimensions: number;
}

@ObjectType()
export class LlmHealth extends ProviderHealth {
  @Field() model: string;
}

@ObjectType()
export class ProviderStatus {
  @Field(() => ProviderHealth) relational: ProviderHealth;
  @Field(() => VectorProviderHealth) vector: VectorProviderHealth;
  @Field(() => EmbeddingsHealth) embeddings: EmbeddingsHealth;
  @Field(() => LlmHealth) llm: LlmHealth;
}
