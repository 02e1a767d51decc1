/**
 * An open PostgreSQL transaction another port can join: the relational driver hands it to the write of
 * one document, and a vector store that lives in the same database (pgvector) runs its statements on
 * the same connection, so the document row and its chunks commit or roll back together.
 */
export interface SqlSession {
  /** Which server, database and role the connection is: equal for two connections that can share a transaction's statements (see sqlSessionKey). */
  readonly key: string;
  /** The pg client inside the transaction (a pg PoolClient). */
  readonly client: unknown;
}

/**
 * The key of a PostgreSQL connection, from what both drivers read of their own: the server's
 * identity (system_identifier, or the drivers' fallback when it is not readable), the database's oid and
 * the role. Same key: a statement the other driver would run works on this connection too.
 */
export function sqlSessionKey(server: string, databaseOid: string, role: string): string {
  return JSON.stringify(['postgres', server, databaseOid, role]);
}
