import { BadInputError } from '@switchyard/core';
import type { TableSelection } from './table-order';

/** One of `allowed` (or the fallback when absent); BAD_INPUT naming the field and the allowed values otherwise. */
export function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback?: T): T {
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new BadInputError(field, `is required; allowed: ${allowed.join(', ')}`);
  }
  if (!allowed.includes(value as T)) throw new BadInputError(field, `got ${JSON.stringify(value)}; allowed: ${allowed.join(', ')}`);
  return value as T;
}

/** An integer in [min, max] (or the fallback when absent); BAD_INPUT naming the field and the range otherwise. */
export function intIn(field: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new BadInputError(field, `got ${JSON.stringify(value)}; allowed: an integer from ${min} to ${max}`);
  }
  return value as number;
}

/** A table selection from input: lists of names, nothing else. */
export function tableSelection(t: TableSelection): TableSelection {
  const list = (field: 'include' | 'exclude') => {
    const v = t[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((n) => typeof n !== 'string' || !n)) throw new BadInputError(`tables.${field}`, 'must be a list of table names');
    return [...v];
  };
  return { include: list('include'), exclude: list('exclude') };
}
