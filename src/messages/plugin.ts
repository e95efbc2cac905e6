import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type Check, parse, type SameFields } from '../config.js';
import type { CourierWith } from '../courier.js';
import type { CourierPlugin, PluginMigration } from '../plugins.js';
import { type ProvidersConfig, providersSchema } from './config.js';
import { messageHttpRoutes } from './http.js';
import { Messages } from './messages.js';

/** Options of {@link messages}. */
export interface MessagesOptions {
  /** Message provider settings: SMTP, Resend, Twilio, WhatsApp, EmailJS, rates, gates; see {@link ProvidersConfig}. */
  providers?: ProvidersConfig;
}

/** zod schema of {@link MessagesOptions}. */
export const messagesOptionsSchema = z.object({ providers: providersSchema.optional() }).strict();

// Compile-time: the option interfaces name exactly the fields their zod schemas validate.
type _MessagesOptionsMatch = Check<SameFields<MessagesOptions, z.input<typeof messagesOptionsSchema>>>;
type _ProvidersConfigMatch = Check<SameFields<ProvidersConfig, z.input<typeof providersSchema>>>;

/** Where messaging's SQL files live, from both `src/messages` and `dist/messages`. */
const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations', 'messages');

/**
 * Messaging's migrations (versions 20–29). Version 20 is the `020_messages` file
 * that earlier releases applied with the core, so databases migrated before the
 * plugin existed find it recorded and apply nothing.
 */
export const messagesMigrations: readonly PluginMigration[] = [
  { version: 20, name: '020_messages', sql: () => readFile(join(migrationsDir, '020_messages.sql'), 'utf8') },
  { version: 21, name: '021_messages_scopes', sql: () => readFile(join(migrationsDir, '021_messages_scopes.sql'), 'utf8') },
  { version: 22, name: '022_submission_checks', sql: () => readFile(join(migrationsDir, '022_submission_checks.sql'), 'utf8') },
  { version: 23, name: '023_email_options', sql: () => readFile(join(migrationsDir, '023_email_options.sql'), 'utf8') },
  { version: 24, name: '024_schedule', sql: () => readFile(join(migrationsDir, '024_schedule.sql'), 'utf8') },
];

/** The messages plugin type: `courier.messages` is a {@link Messages}. */
export type MessagesPlugin = CourierPlugin<'messages', Messages>;

/**
 * The messages plugin: email, SMS and WhatsApp sends from background tasks,
 * message tracking, bulk batches with progress, provider webhooks. Its tables are
 * created by `courier.migrate()` only on couriers that use it; its HTTP endpoints
 * are served by `pgcourier/http`; old finished messages go with the core cleanup.
 *
 * @example
 * ```ts
 * import { createCourier } from 'pgcourier';
 * import { messages } from 'pgcourier/messages';
 *
 * const courier = createCourier({
 *   connectionString: process.env.DATABASE_URL,
 *   plugins: [messages({ providers: { twilio: { accountSid: 'AC…', authToken: process.env.TWILIO_TOKEN!, from: '+15550001111' } } })],
 * });
 * await courier.migrate();
 * const id = await courier.messages.send({ channel: 'sms', to: '+15551234567', body: 'Your code is 4821' });
 * ```
 */
export function messages(options: MessagesOptions = {}): MessagesPlugin {
  // Fails here, naming the field, rather than when the courier is created.
  parse(messagesOptionsSchema, options ?? {}, 'messages');
  return {
    name: 'messages',
    migrations: messagesMigrations,
    setup(host) {
      const api = new Messages(host, options?.providers);
      return {
        api,
        close: () => api.close(),
        cleanup: (o) => api.cleanup({ olderThan: o.olderThan }),
        extensions: { http: messageHttpRoutes(api) },
      };
    },
  };
}

/** A courier created with the messages plugin: `courier.messages` is typed. */
export type MessagingCourier = CourierWith<readonly [MessagesPlugin]>;
