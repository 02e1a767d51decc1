import { jsonProblem, textProblem } from '@switchyard/core';

/** The rules a document must meet to be stored: the API applies them, and so does every migration/import. */
export const DOCUMENT_ID_MAX = 255;
export const TITLE_MAX = 1000;

/** What is wrong with a document's fields (field name and why), or null when it may be stored. */
export function documentProblem(
  d: { documentId: unknown; content: unknown; title?: unknown; metadata?: unknown },
  maxDocumentBytes: number,
): { field: string; message: string } | null {
  if (typeof d.documentId !== 'string' || !d.documentId.trim() || d.documentId.length > DOCUMENT_ID_MAX) return { field: 'documentId', message: `must be 1 to ${DOCUMENT_ID_MAX} characters` };
  const id = textProblem(d.documentId);
  if (id) return { field: 'documentId', message: id };
  if (typeof d.content !== 'string' || !d.content.trim()) return { field: 'content', message: 'must not be empty' };
  const bytes = Buffer.byteLength(d.content, 'utf8');
  if (bytes > maxDocumentBytes) return { field: 'content', message: `is ${bytes} bytes; the limit is ${maxDocumentBytes} (KNOWLEDGE_MAX_DOCUMENT_BYTES)` };
  const content = textProblem(d.content);
  if (content) return { field: 'content', message: content };
  if (d.title !== null && d.title !== undefined) {
    if (typeof d.title !== 'string' || d.title.length > TITLE_MAX) return { field: 'title', message: `must be at most ${TITLE_MAX} characters` };
    const title = textProblem(d.title);
    if (title) return { field: 'title', message: title };
  }
  const meta = d.metadata === null || d.metadata === undefined ? null : jsonProblem(d.metadata);
  if (meta) return { field: `metadata${meta[0] ? `.${meta[0]}` : ''}`, message: meta[1] };
  return null;
}
