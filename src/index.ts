export type { CourierOptions, RunOnceOptions, StartOptions, StopOptions } from './courier.js';
export { Courier, createCourier } from './courier.js';
export type { Database, TaskErrorEntry, TaskStatus, TasksTable } from './db/types.js';
export { closeDefaultCourier, configure, defaultRegistry, enqueueTask, getDefaultCourier, registerTask } from './default.js';
export type { DoctorCheck } from './doctor.js';
export type { CourierErrorCode } from './errors.js';
export {
  ConflictError,
  CourierError,
  LeaseLostError,
  NotFoundError,
  NotMigratedError,
  PermanentError,
  RetryAfter,
  retryAfter,
  ShutdownError,
  StateError,
  TaskTimeoutError,
  UnknownTaskError,
  ValidationError,
} from './errors.js';
export type { CourierEventMap, CourierEventName, TaskEventBase } from './events.js';
export { CourierEvents } from './events.js';
export type { CourierHttpHandler, DashboardOptions, FetchHandler, HttpAuthOptions, HttpOptions, NodeListener, NodeListenerOptions, ProblemDetails } from './http/index.js';
export { createHttpHandler, toNodeListener } from './http/index.js';
export type { Acquired, Rate, RateLimiter, RateLimitSpec } from './limits/rate-limiter.js';
export type { WorkerInfo } from './maintenance/heartbeat.js';
export type { EnqueueItem, EnqueueItems, EnqueueOptions, ListTasksOptions, ManagerDeps, QueueCounts, QueueStatus, TaskPage } from './manager.js';
export { TaskManager } from './manager.js';
export type { ChannelDefinition } from './messages/channels.js';
export type { Classified, SmtpErrorLike } from './messages/classify.js';
export { classifyMeta, classifyResend, classifySmtp, classifyTwilio, parseRetryAfter } from './messages/classify.js';
export type { EmailJsConfig, GateConfig, ProvidersConfig, RateSpec, ResendConfig, SmtpConfig, TwilioConfig, WhatsAppConfig } from './messages/config.js';
export type { BatchHandle, MessagesHost, MessageWebhooks } from './messages/messages.js';
export { Messages } from './messages/messages.js';
export type { MessageProvider, OutgoingMessage, ProviderContext, SendResult } from './messages/providers/provider.js';
export type { StandardWebhookCheck } from './messages/signatures.js';
export { metaSignature, standardWebhookSignature, twilioSignature, verifyMetaSignature, verifyStandardWebhook, verifyTwilioSignature } from './messages/signatures.js';
export type { Rendered } from './messages/template.js';
export { escapeHtml, renderTemplate } from './messages/template.js';
export type { AmbiguityPolicy, BatchProgress, BuiltinChannel, BulkRecipient, Channel, ContentTemplate, EmailTemplate, MessageAttempt, MessageError, MessageEvent, MessageInfo, MessageQueueStatus, MessageStatus, MessageTemplate, OutcomeClass, SendBulkInput, SendMessageInput, SendOptions, StatusCounts, TemplateVariables, WhatsAppTemplate } from './messages/types.js';
export type { RequestInfo } from './messages/webhooks/emailjs.js';
export type { Metrics, ProcessCounters, QueueMetrics } from './metrics.js';
export type { QueueOptions, QueueSettings } from './queues.js';
export { QueueAdmin } from './queues.js';
export type { DefineTaskInput, PayloadOf, RegisterOptions, TaskContext, TaskDefaults, TaskDefinition, TaskHandler, TaskTypeOptions } from './registry.js';
export { defineTask, TaskRegistry } from './registry.js';
export type { CleanupOptions, FinishedStatus } from './scheduler/cleanup.js';
export type { ScheduleInfo, ScheduleOptions } from './scheduler/schedules.js';
export { ScheduleAdmin } from './scheduler/schedules.js';
export type { TaskInfo } from './task-info.js';
export type { ProcessorHealth } from './worker/processor.js';
