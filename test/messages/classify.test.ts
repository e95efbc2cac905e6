// Pure classification of provider answers: no database, no network.
import { describe, expect, it } from 'vitest';
import { classifyMeta, classifyResend, classifySmtp, classifyTwilio, enhancedCode, parseRetryAfter } from '../../src/messages/classify.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  it('reads delta-seconds and HTTP-dates, rejects garbage', () => {
    expect(parseRetryAfter('2', now)).toBe(2);
    expect(parseRetryAfter(' 120 ', now)).toBe(120);
    expect(parseRetryAfter('1.5', now)).toBe(1.5);
    expect(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-3', now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe('classifyTwilio (by error code first)', () => {
  const c = (status: number, code: number | null, retryAfter: string | null = null) => classifyTwilio({ status, code, message: 'x', retryAfter });
  it.each([
    [400, 21610, 'permanent_recipient'],
    [400, 21211, 'permanent_recipient'],
    [400, 21614, 'permanent_recipient'],
    [401, 20003, 'config'],
    [400, 21606, 'config'],
    // One recipient, one region or one To/From pair: fail the message, pause nothing, suppress nobody (issue 14, defects 2 and 4).
    [400, 21608, 'permanent'],
    [400, 21408, 'permanent'],
    [400, 21612, 'permanent'],
    [400, 21602, 'permanent'],
    [400, 21617, 'permanent'],
    [500, 20500, 'ambiguous'],
    [0, 30003, 'retry'],
    [0, 30006, 'permanent_recipient'],
    [0, 30007, 'permanent'],
    [0, 63016, 'permanent'],
    [503, null, 'ambiguous'],
    [404, null, 'permanent'],
  ])('HTTP %i code %s → %s', (status, code, outcome) => {
    expect(c(status, code).outcome).toBe(outcome);
  });
  it('429 / 20429 is rate_limited and honours Retry-After, else a 1 s hint', () => {
    expect(c(429, 20429, '2')).toMatchObject({ outcome: 'rate_limited', retryAfter: 2 });
    expect(c(429, 20429)).toMatchObject({ outcome: 'rate_limited', retryAfter: 1 });
    expect(c(400, 63018)).toMatchObject({ outcome: 'rate_limited', code: '63018' });
  });
  it('a code outranks the HTTP status', () => {
    expect(c(500, 21610).outcome).toBe('permanent_recipient');
  });
  it('STOP (21610) and a block (30004, 63014) suppress the pair, not the recipient for every sender', () => {
    expect(c(400, 21610)).toMatchObject({ outcome: 'permanent_recipient', suppress: 'pair' });
    expect(c(0, 30004)).toMatchObject({ outcome: 'permanent_recipient', suppress: 'pair' });
    expect(c(400, 21211).suppress).toBeUndefined();
  });
  it('capacity errors are long pauses, not failures: 21611 (sender queue full), 63038 (daily limit), 63017', () => {
    expect(c(400, 21611)).toMatchObject({ outcome: 'rate_limited', retryAfter: 3600 });
    expect(c(400, 63038)).toMatchObject({ outcome: 'rate_limited', retryAfter: 6 * 3600 });
    expect(c(400, 63017)).toMatchObject({ outcome: 'rate_limited' });
    expect(c(400, 63017).pauseGate).not.toBe(false);
  });
});

describe('classifyMeta (by error.code, never by HTTP status alone)', () => {
  const c = (status: number, code: number | null, retryAfter: string | null = null) => classifyMeta({ status, code, message: 'x', retryAfter });
  it.each([
    [401, 190, 'config'],
    [403, 368, 'config'],
    [403, 200, 'config'],
    [400, 131031, 'config'],
    [400, 132015, 'permanent'],
    [400, 132016, 'permanent'],
    [400, 131026, 'permanent_recipient'],
    [400, 131047, 'permanent'],
    [400, 132001, 'permanent'],
    [400, 132000, 'permanent'],
    [400, 100, 'permanent'],
    [500, 131000, 'retry'],
    [503, 133004, 'retry'],
    [500, 2, 'retry'],
    [502, null, 'ambiguous'],
  ])('HTTP %i code %s → %s', (status, code, outcome) => {
    expect(c(status, code).outcome).toBe(outcome);
  });
  it('throughput codes are rate_limited with code hints; the pair limit pauses only the recipient', () => {
    expect(c(400, 130429)).toMatchObject({ outcome: 'rate_limited', retryAfter: 1 });
    expect(c(429, 130429, '3')).toMatchObject({ outcome: 'rate_limited', retryAfter: 3 });
    expect(c(400, 131056)).toMatchObject({ outcome: 'rate_limited', retryAfter: 6, pauseGate: false });
    expect(c(400, 80007)).toMatchObject({ outcome: 'rate_limited', retryAfter: 3600 });
    expect(c(400, 4)).toMatchObject({ outcome: 'rate_limited', retryAfter: 60 });
  });
  it('131050 (user stopped marketing from this business) suppresses the pair', () => {
    expect(c(400, 131050)).toMatchObject({ outcome: 'permanent_recipient', suppress: 'pair' });
    expect(c(400, 131026).suppress).toBeUndefined();
  });
  it('the same code classifies the same whatever HTTP status Meta chose', () => {
    expect(c(400, 130429).outcome).toBe(c(429, 130429).outcome);
  });
});

describe('classifyResend', () => {
  const c = (status: number, name: string | null, retryAfter: string | null = null) => classifyResend({ status, name, message: 'x', retryAfter });
  it.each([
    [429, 'rate_limit_exceeded', 'rate_limited'],
    [429, 'daily_quota_exceeded', 'rate_limited'],
    [401, 'missing_api_key', 'config'],
    [403, 'invalid_api_key', 'config'],
    [403, 'validation_error', 'config'],
    [422, 'validation_error', 'permanent'],
    [422, 'invalid_from_address', 'permanent'],
    [409, 'invalid_idempotent_request', 'permanent'],
    [409, 'concurrent_idempotent_requests', 'retry'],
    [500, 'application_error', 'retry'],
    [502, null, 'retry'],
  ])('HTTP %i %s → %s', (status, name, outcome) => {
    expect(c(status, name).outcome).toBe(outcome);
  });
  it('honours retry-after; quotas get long hints', () => {
    expect(c(429, 'rate_limit_exceeded', '2')).toMatchObject({ retryAfter: 2 });
    expect(c(429, 'daily_quota_exceeded')).toMatchObject({ retryAfter: 3600 });
  });
});

describe('classifySmtp', () => {
  it('reads enhanced codes', () => {
    expect(enhancedCode('550 5.1.1 <x@y>: Recipient address rejected')).toBe('5.1.1');
    expect(enhancedCode('250 OK')).toBeNull();
  });
  it.each([
    [{ code: 'EENVELOPE', responseCode: 450, command: 'RCPT TO', response: '450 4.2.0 Mailbox busy' }, 'retry'],
    [{ code: 'EMESSAGE', responseCode: 451, command: 'DATA', response: '451 4.7.1 Try later' }, 'retry'],
    [{ code: 'ECONNECTION', responseCode: 421, command: 'CONN', response: '421 4.7.0 Try again later' }, 'retry'],
    [{ code: 'EENVELOPE', responseCode: 450, command: 'MAIL FROM', response: '450 4.2.1 Peak SMTP relay limit exceeded' }, 'rate_limited'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'MAIL FROM', response: '550 5.4.5 Daily user sending limit exceeded' }, 'rate_limited'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.1 No such user' }, 'permanent_recipient'],
    [{ code: 'EENVELOPE', responseCode: 553, command: 'RCPT TO', response: '553 mailbox name not allowed' }, 'permanent_recipient'],
    [{ code: 'EMESSAGE', responseCode: 554, command: 'DATA', response: '554 5.7.1 Rejected as spam' }, 'permanent'],
    // Sender and policy problems are never the recipient's fault (issue 14, defect 1).
    [{ code: 'EENVELOPE', responseCode: 553, command: 'MAIL FROM', response: '553 5.1.8 Sender address rejected: Domain not found' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'MAIL FROM', response: '550 5.1.7 Invalid sender address syntax' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'MAIL FROM', response: '550 Sender rejected' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.7.1 Relaying denied' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.7.606 Access denied, banned sending IP [203.0.113.5]' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.8 Bad sender system address' }, 'config'],
    [{ code: 'EMESSAGE', responseCode: 550, command: 'DATA', response: '550 5.7.26 Unauthenticated email is not accepted (DMARC)' }, 'config'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.10 Recipient address has null MX' }, 'permanent_recipient'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.2.1 Mailbox disabled' }, 'permanent_recipient'],
    [{ code: 'EENVELOPE', responseCode: 552, command: 'RCPT TO', response: '552 5.2.2 Mailbox full' }, 'permanent'],
    [{ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.3.0 Other mail system problem' }, 'permanent'],
    [{ code: 'EMESSAGE', responseCode: 552, command: 'DATA', response: '552 5.3.4 Message too big' }, 'permanent'],
    [{ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN', response: '535 5.7.8 Authentication failed' }, 'config'],
    [{ code: 'ETLS', command: 'CONN', message: 'STARTTLS failed' }, 'config'],
    [{ code: 'ESOCKET', command: 'CONN', message: 'self-signed certificate' }, 'config'],
    [{ code: 'ECONNECTION', command: 'CONN', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'retry'],
    [{ code: 'ETIMEDOUT', command: 'CONN', message: 'Greeting never received' }, 'retry'],
    [{ code: 'EENVELOPE', responseCode: 503, command: 'RCPT TO', response: '503 5.5.1 Bad sequence' }, 'retry'],
  ])('%o → %s', (err, outcome) => {
    expect(classifySmtp(err).outcome).toBe(outcome);
  });
  it('a connection lost after the server accepted DATA is ambiguous, before it a retry', () => {
    const lost = { code: 'ECONNECTION', command: 'CONN', message: 'Connection closed unexpectedly' };
    expect(classifySmtp(lost, { afterData: true }).outcome).toBe('ambiguous');
    expect(classifySmtp(lost, { afterData: false }).outcome).toBe('retry');
  });
});
