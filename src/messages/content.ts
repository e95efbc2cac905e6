import { renderTemplate } from './template.js';
import type { ContentTemplate, EmailTemplate, MessageTemplate, TemplateVariables, WhatsAppTemplate } from './types.js';

/** What a message says, before rendering. */
export interface ContentSource {
  channel: string;
  body: string | null;
  html: string | null;
  subject: string | null;
  template: MessageTemplate | null;
  variables: TemplateVariables;
  /** Whether the message carries media (a media-only message has no text). */
  hasMedia?: boolean;
}

/** Rendered content, ready for a provider. */
export interface RenderedContent {
  subject: string | null;
  text: string | null;
  html: string | null;
  template: WhatsAppTemplate | ContentTemplate | null;
  variables: TemplateVariables;
}

/** Whether a template names a provider template rather than text to render. */
export function isProviderTemplate(t: MessageTemplate | null | undefined): t is WhatsAppTemplate | ContentTemplate {
  return typeof t === 'object' && t !== null && ('name' in t || 'contentSid' in t);
}

/**
 * Renders a message's content: literal `body`/`html`, a text template, an email
 * template (HTML-escaped values in `html`), or a provider template passed through
 * with its variables. Fails with the names of placeholders that have no variable.
 */
export function renderContent(src: ContentSource): { ok: true; content: RenderedContent } | { ok: false; error: string } {
  const vars = src.variables;
  const missing = new Set<string>();
  const render = (text: string | null | undefined, html = false): string | null => {
    if (text === null || text === undefined) return null;
    const r = renderTemplate(text, vars, { html });
    for (const m of r.missing) missing.add(m);
    return r.text;
  };
  let content: RenderedContent;
  const t = src.template;
  if (t === null) {
    content = { subject: src.subject, text: src.body, html: src.html, template: null, variables: vars };
  } else if (isProviderTemplate(t)) {
    content = { subject: src.subject, text: src.body, html: null, template: t, variables: vars };
  } else if (typeof t === 'string') {
    content = { subject: render(src.subject), text: render(t), html: null, template: null, variables: vars };
  } else {
    const e = t as EmailTemplate;
    content = { subject: render(e.subject ?? src.subject), text: render(e.text), html: render(e.html, true), template: null, variables: vars };
  }
  if (missing.size > 0) return { ok: false, error: `template variables missing: ${[...missing].join(', ')}` };
  if (content.text === null && content.html === null && content.template === null && !src.hasMedia) return { ok: false, error: 'message has no content' };
  return { ok: true, content };
}

/** Email cannot carry a provider template (`{ name }` or `{ contentSid }`). */
export function emailContentProblem(message: { template: unknown }): string | null {
  return message.template ? 'email cannot use a WhatsApp or Twilio Content template; give body, html or an email template' : null;
}
