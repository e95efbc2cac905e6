import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium (or `CHROMIUM_PATH`), which the dashboard's browser tests drive. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Whether it is installed; in CI a missing one is an error, not a skip. */
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium before the tests`);

// Without the background-networking flags Chromium dials out at start, which this closed network refuses.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches headless Chromium as every dashboard test does. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 120_000 });
}

/**
 * Records on `page` what a dashboard test must not see: script errors, console
 * errors, failed responses other than those `expected` allows (all into
 * `pageErrors`), and any request that leaves `origin` (into `foreign`).
 */
export function watchPage(page: Page, origin: string, expected: (status: number, url: string) => boolean, pageErrors: string[], foreign: string[]): void {
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // Failed requests are judged by their status below; the console repeats them.
    if (msg.type() === 'error' && !/status of (400|401)/.test(msg.text())) pageErrors.push(msg.text());
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !expected(res.status(), res.url())) pageErrors.push(`${res.status()} ${res.url()}`);
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(origin) && !req.url().startsWith('data:')) foreign.push(req.url());
  });
}
