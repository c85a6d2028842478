/**
 * Session time: a notice inside JupyterLab before the plan's daily minutes run out, so a
 * user can save and wrap up instead of being surprised when the server stops. And the
 * usage notices (80% and 100% of a daily limit of the plan), each shown once with an
 * "Upgrade" link to the billing page.
 */
import { Notification } from '@jupyterlab/apputils';

import { requestJSON } from './api';

export interface IUsageNotice {
  id: string;
  limit_name: string;
  threshold: number;
  message: string;
  upgrade_url: string;
}

export interface ISessionUsage {
  plan: { code: string; name: string };
  resets_at: string;
  minutes_used: number;
  minutes_left: number | null;
  warn_minutes: number;
  notices?: IUsageNotice[];
  upgrade_url?: string;
}

// JupyterLab cuts toasts at 140 characters; the whole message is on the billing page.
const TOAST_CHARACTERS = 140;

const CHECK_EVERY_MS = 60_000;

/** One notice per UTC day, across tabs: the key carries the day the budget resets after. */
function warnedKey(usage: ISessionUsage): string {
  return `datazentr:session-warned:${usage.resets_at.slice(0, 10)}`;
}

export function sessionWarning(usage: ISessionUsage): string | null {
  const left = usage.minutes_left;
  if (left === null || left > usage.warn_minutes) {
    return null;
  }
  const resets = new Date(usage.resets_at).toISOString().slice(11, 16);
  const minutes = Math.max(0, Math.floor(left));
  // Short enough for the toast (JupyterLab cuts toasts at 140 characters).
  return (
    `${minutes} minute${minutes === 1 ? '' : 's'} of today's session time left ` +
    `(${usage.plan.name} plan). Your server then stops; files are kept. Resets ${resets} UTC.`
  );
}

/** One toast per notice, across tabs and reloads. */
function noticeKey(notice: IUsageNotice): string {
  return `datazentr:usage-notice:${notice.id}`;
}

export function noticeText(notice: IUsageNotice): string {
  const message = notice.message.trim();
  if (message.length <= TOAST_CHARACTERS) {
    return message;
  }
  const cut = message.lastIndexOf(' ', TOAST_CHARACTERS - 1);
  return `${message.slice(0, cut > 0 ? cut : TOAST_CHARACTERS - 1)}…`;
}

function showNotices(usage: ISessionUsage): void {
  for (const notice of usage.notices ?? []) {
    const key = noticeKey(notice);
    if (window.localStorage.getItem(key) !== null) {
      continue;
    }
    window.localStorage.setItem(key, new Date().toISOString());
    const url = notice.upgrade_url || usage.upgrade_url || '';
    const actions = url
      ? [
          {
            label: 'Upgrade',
            caption: 'Open the billing page',
            callback: () => window.open(url, '_blank', 'noopener')
          }
        ]
      : [];
    const show = notice.threshold >= 100 ? Notification.error : Notification.warning;
    show(noticeText(notice), { autoClose: false, actions });
  }
}

async function check(): Promise<void> {
  let usage: ISessionUsage;
  try {
    usage = await requestJSON<ISessionUsage>(['session', 'usage']);
  } catch {
    return; // the api is away for a moment: the next check tries again
  }
  showNotices(usage);
  const message = sessionWarning(usage);
  const key = warnedKey(usage);
  if (message === null || window.localStorage.getItem(key) !== null) {
    return;
  }
  window.localStorage.setItem(key, new Date().toISOString());
  Notification.warning(message, { autoClose: false });
}

export function watchSessionTime(): void {
  void check();
  window.setInterval(() => void check(), CHECK_EVERY_MS);
}
