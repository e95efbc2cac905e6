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
