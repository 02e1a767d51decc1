import { z } from 'zod';

/**
 * Env parsing primitives. Every message names the allowed values; the variable name is added by
 * the caller from the issue path, so a user always reads "VARIABLE: what is wrong (allowed: ...)".
 */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T, fallback?: T[number]) => {
  const e = z.enum(values, {
    error: (iss) => `got ${JSON.stringify(iss.input)}; allowed: ${values.join(', ')}`,
  });
  return fallback === undefined ? e : e.default(fallback as never);
};

export const bool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const s = v.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `got ${JSON.stringify(v)}; allowed: true, false` });
      return z.NEVER;
    });

export const int = (fallback: number | undefined, opts: { min?: number; max?: number; what?: string } = {}) => {
  const min = opts.min ?? 1;
  const what = opts.what ?? (min === 1 ? 'a positive integer' : `an integer >= ${min}`);
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') {
        if (fallback === undefined) {
          ctx.addIssue({ code: 'custom', message: `is required; allowed: ${what}` });
          return z.NEVER;
        }
        return fallback;
      }
      const n = Number(v.trim());
      if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || (opts.max !== undefined && n > opts.max)) {
        const range = opts.max !== undefined ? ` (${min}..${opts.max})` : '';
        ctx.addIssue({ code: 'custom', message: `got ${JSON.stringify(v)}; allowed: ${what}${range}` });
        return z.NEVER;
      }
      return n;
    });
};

export const str = (fallback?: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v));

export const url = (fallback?: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const value = v === undefined || v === '' ? fallback : v;
      if (value === undefined) return undefined;
      try {
        const u = new URL(value);
        if (!/^https?:$|^postgres(ql)?:$/.test(u.protocol)) throw new Error('protocol');
        return value.replace(/\/+$/, '');
      } catch {
        ctx.addIssue({ code: 'custom', message: `got ${JSON.stringify(v)}; allowed: an absolute URL such as http://localhost:8000` });
        return z.NEVER;
      }
    });
