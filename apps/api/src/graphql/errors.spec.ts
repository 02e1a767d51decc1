import { FREEZE_MESSAGE } from '@switchyard/relational-db';
import { SwitchyardError } from '@switchyard/core';
import { toGraphQLError } from './errors';

describe('toGraphQLError', () => {
  it('a write refused by a migration freeze is MAINTENANCE, not an internal error', () => {
    const driverError = new Error(`SqliteError: ${FREEZE_MESSAGE}`);
    expect(toGraphQLError(driverError).extensions).toMatchObject({ code: 'MAINTENANCE' });
    expect(toGraphQLError(driverError).message).toBe(FREEZE_MESSAGE);
  });

  it('a domain MAINTENANCE error keeps its code; anything unknown stays internal', () => {
    expect(toGraphQLError(new SwitchyardError('MAINTENANCE', 'frozen')).extensions).toMatchObject({ code: 'MAINTENANCE' });
    expect(toGraphQLError(new Error('boom')).extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
  });
});
