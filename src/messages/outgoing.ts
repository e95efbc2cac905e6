/**
 * Builds the request content of a stored message: the send task and reconcile
 * (which re-posts under the provider's idempotency key, so the body must be the
 * same bytes) share it.
 */
import { renderContent } from './content.js';
import { toMediaItems } from './media.js';
import type { EmailExtras, OutgoingMessage } from './providers/provider.js';
import type { MessageRow, SendState } from './store.js';
import type { MessageTemplate, TemplateVariables } from './types.js';
import { listUnsubscribeHeaders, type UnsubscribeSettings } from './unsubscribe.js';

/** The WhatsApp template a message falls back to when the 24-hour window is closed. */
export interface WindowTemplate {
  template?: unknown;
  variables?: TemplateVariables;
}

/** Renders a message's content into an outgoing message (email options not yet set), or says what is wrong. */
export function composeOutgoing(st: Pick<SendState, 'message' | 'batchTemplate' | 'batchVariables' | 'batchSubject'>, windowTemplate: WindowTemplate | null): { ok: true; out: OutgoingMessage } | { ok: false; error: string } {
  const m = st.message;
  const useTemplate = windowTemplate !== null;
  const rendered = renderContent({
    channel: m.channel,
    body: useTemplate ? null : m.body,
    html: m.html,
    subject: m.subject ?? st.batchSubject,
    template: (useTemplate ? windowTemplate.template : (m.template ?? st.batchTemplate ?? null)) as MessageTemplate | null,
    variables: useTemplate ? (windowTemplate.variables ?? {}) : { ...((st.batchVariables ?? {}) as TemplateVariables), ...(m.variables ?? {}) },
    hasMedia: !useTemplate && (m.media?.length ?? 0) > 0,
  });
  if (!rendered.ok) return rendered;
  return {
    ok: true,
    out: {
      id: m.id,
      channel: m.channel,
      to: m.recipient,
      from: m.sender,
      ...rendered.content,
      media: useTemplate ? [] : (m.media ?? []),
      mediaItems: useTemplate ? [] : (m.media_items ?? toMediaItems(m.media)),
      expiresAt: m.expires_at,
      email: null,
    },
  };
}

/** An email's options, with the one-click unsubscribe headers when they apply (bulk sends, or `unsubscribe: true`). */
export function emailExtras(m: MessageRow, sender: string, settings: UnsubscribeSettings | undefined): EmailExtras {
  const { unsubscribe, headers, ...extras } = m.email ?? {};
  const list = settings && (unsubscribe ?? m.batch_id !== null) ? listUnsubscribeHeaders(settings, { channel: m.channel, recipient: m.recipient, sender }) : {};
  return { ...extras, headers: { ...headers, ...list } };
}
