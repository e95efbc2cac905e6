import type { TemplateVariables } from './types.js';

/** A placeholder: `{{name}}` with optional spaces; names are letters, digits, `_`, `.`, `-`. */
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]{1,64})\s*\}\}/g;

/** Result of {@link renderTemplate}. */
export interface Rendered {
  /** The text with every known placeholder replaced. */
  text: string;
  /** Placeholder names that had no variable (left empty in `text`). */
  missing: string[];
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Substitutes `{{name}}` placeholders with `variables`. Plain string replacement:
 * no expressions, no helpers, no code execution. With `html: true` substituted
 * values are HTML-escaped (the template's own markup is kept). `null` renders as
 * an empty string; a placeholder without a variable renders empty and is listed in
 * `missing`.
 *
 * @example
 * ```ts
 * renderTemplate('<p>Hi {{name}}</p>', { name: '<Ana>' }, { html: true }).text; // '<p>Hi &#60;Ana&#62;</p>'
 * ```
 */
export function renderTemplate(template: string, variables: TemplateVariables = {}, options: { html?: boolean } = {}): Rendered {
  const missing: string[] = [];
  const text = template.replace(PLACEHOLDER, (_match, name: string) => {
    if (!Object.hasOwn(variables, name)) {
      if (!missing.includes(name)) missing.push(name);
      return '';
    }
    const value = variables[name];
    const str = value === null || value === undefined ? '' : String(value);
    return options.html ? escapeHtml(str) : str;
  });
  return { text, missing };
}

/** A header-safe single line: CR, LF and other control characters become spaces. */
export function singleLine(value: string): string {
  let out = '';
  let inControl = false;
  for (const ch of value) {
    const c = ch.codePointAt(0) as number;
    const control = c < 0x20 || c === 0x7f;
    if (!control) out += ch;
    else if (!inControl) out += ' ';
    inControl = control;
  }
  return out.trim();
}
