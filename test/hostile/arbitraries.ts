// fast-check arbitraries for hostile input: SQL metacharacters, quoting, control and
// NUL characters, lone UTF-16 surrogates, long strings, deep nesting, wrong types.
import fc from 'fast-check';

/** Pieces that break naive SQL, JSON or identifier handling. */
export const nasty = fc.constantFrom(
  "'",
  '"',
  ';',
  '--',
  '/*',
  '*/',
  '\\',
  '$1',
  '$$',
  '%',
  '_',
  '.',
  ' ',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  '\u202e',
  "'; DROP TABLE tasks; --",
  '" OR 1=1 --',
  'pg_',
  'é',
  '😀',
  'Ω',
);

/** Lone (unpaired) UTF-16 surrogates: valid JS strings, invalid in UTF-8 and JSON text for Postgres. */
export const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Any string made of nasty pieces and arbitrary code points (no lone surrogates). */
export const hostileString = (maxLength = 40) =>
  fc.string({ unit: fc.oneof({ weight: 1, arbitrary: nasty }, { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }), maxLength });

/** Values of every JS type. */
export const wrongType = fc.oneof(
  fc.constant(null),
  fc.constant(Number.NaN),
  fc.constant(Number.POSITIVE_INFINITY),
  fc.constant(Number.NEGATIVE_INFINITY),
  fc.boolean(),
  fc.bigInt(),
  hostileString(10),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1, maxKeys: 2 }),
  fc.constant(() => 1),
  fc.constant(Symbol('s')),
);

/** JSON-ish payloads whose strings are hostile (NUL included, lone surrogates not). */
export const hostilePayload = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString(30),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString(12), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Nests `leaf` `depth` times in arrays or objects. */
export function nest(depth: number, leaf: unknown = 1, objects = false): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = objects ? { k: v } : [v];
  return v;
}
