/**
 * What JSON text Postgres cannot store in jsonb: a NUL character (`\u0000`) or a
 * lone UTF-16 surrogate, which JSON.stringify writes as a `\udXXX` escape (paired
 * surrogates come out as the characters themselves). An escaped backslash before
 * the `u` is literal text and fine. Returns a description, or `null` when storable.
 */
export function unstorableInJsonb(json: string): string | null {
  const found = /(?:^|[^\\])(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i.exec(json);
  if (!found) return null;
  return found[1] === '0000' ? 'NUL (\\u0000) characters' : 'a lone UTF-16 surrogate';
}

/** Text Postgres can store: NULs removed, lone surrogates replaced. */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '').toWellFormed();
}

/** What JSON.stringify would silently drop or turn into `null`, described; `null` when it carries nothing of the kind. */
function lossOf(value: unknown, inArray: boolean): string | null {
  if (typeof value === 'number' && !Number.isFinite(value)) return `${value} (JSON turns it into null)`;
  if (typeof value === 'function') return 'a function (JSON drops it)';
  if (typeof value === 'symbol') return 'a symbol (JSON drops it)';
  if (value === undefined && inArray) return 'undefined in an array (JSON turns it into null)';
  if (value instanceof Map || value instanceof Set) return `a ${value instanceof Map ? 'Map' : 'Set'} (JSON turns it into {})`;
  return null;
}

/**
 * JSON-encodes `value`, refusing what JSON cannot carry instead of losing it:
 * NaN and ±Infinity (→ null), functions and symbols (dropped), undefined array
 * items (→ null), Maps and Sets (→ {}). Throws {@link JsonLossError} naming the
 * path of the first such value; undefined object properties are left out as usual.
 */
export function stringifyLossless(value: unknown): string | undefined {
  const json = JSON.stringify(value); // first: it reports cycles and BigInts in its own words
  const found = findLoss(value, false);
  if (found) throw new JsonLossError(found.path, found.what);
  return json;
}

/** A value JSON cannot carry, found at `path` by {@link stringifyLossless}. */
export class JsonLossError extends Error {
  constructor(
    readonly path: string[],
    readonly what: string,
  ) {
    super(`${path.join('.') || '(root)'} is ${what}`);
  }
}

/** The first value JSON would lose, with its path (built only when one is found). */
function findLoss(value: unknown, inArray: boolean): { path: string[]; what: string } | null {
  const what = lossOf(value, inArray);
  if (what) return { path: [], what };
  if (typeof value !== 'object' || value === null || typeof (value as { toJSON?: unknown }).toJSON === 'function') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findLoss(value[i], true);
      if (found) {
        found.path.unshift(String(i));
        return found;
      }
    }
    return null;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const found = findLoss((value as Record<string, unknown>)[key], false);
    if (found) {
      found.path.unshift(key);
      return found;
    }
  }
  return null;
}
