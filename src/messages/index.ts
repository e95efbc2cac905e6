/**
 * `pgcourier/messages`: the messaging plugin. Email (SMTP, Resend), SMS and
 * WhatsApp (Twilio, Meta Cloud API) sends from background tasks, tracked message
 * states, bulk batches with progress, signature-checked provider webhooks.
 *
 * @example
 * ```ts
 * import { createCourier } from 'pgcourier';
 * import { messages } from 'pgcourier/messages';
 *
 * const courier = createCourier({ connectionString: process.env.DATABASE_URL, plugins: [messages({ providers: { smtp: { host: 'smtp.example.com', from: 'noreply@example.com' } } })] });
 * await courier.migrate();
 * await courier.messages.send({ channel: 'email', to: 'ana@example.com', subject: 'Hi', body: 'Welcome' });
 * ```
 * @module
 */
export type { ChannelDefinition } from './channels.js';
export type { EmailJsConfig, GateConfig, ProvidersConfig, RateSpec, ResendConfig, SmtpConfig, TwilioConfig, WhatsAppConfig } from './config.js';
export type { BatchHandle, MessageWebhooks } from './messages.js';
export { Messages } from './messages.js';
export type { MessagesOptions, MessagesPlugin, MessagingCourier } from './plugin.js';
export { messages } from './plugin.js';
export type { EmailExtras, MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './providers/provider.js';
export type { ReconcileOutcome, ReconcileResult } from './reconcile.js';
export type { StandardWebhookCheck } from './signatures.js';
export { metaSignature, standardWebhookSignature, twilioSignature, verifyMetaSignature, verifyStandardWebhook, verifyTwilioSignature } from './signatures.js';
export type {
  AmbiguityPolicy,
  BatchProgress,
  BuiltinChannel,
  BulkRecipient,
  Channel,
  ChannelFallback,
  ContentTemplate,
  EmailAttachment,
  EmailTemplate,
  MediaItem,
  MessageAttempt,
  MessageError,
  MessageEvent,
  MessageInfo,
  MessageQueueStatus,
  MessageStatus,
  MessageTemplate,
  OutcomeClass,
  QuietHours,
  SendBulkInput,
  SendMessageInput,
  SendOptions,
  StatusCounts,
  TemplateVariables,
  WhatsAppTemplate,
  WhatsAppTemplateButton,
  WhatsAppTemplateHeader,
} from './types.js';
export type { RequestInfo } from './webhooks/emailjs.js';
