/**
 * Calls to the assistant and pattern server extensions of this Jupyter server.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IEngineStatus {
  engine: 'model' | 'offline';
  model: string | null;
  model_reachable: boolean | null;
  api_reachable?: boolean;
  requests_used_today: number | null;
  requests_per_day: number | null;
  message?: string;
}

export interface IChatEvent {
  type: 'start' | 'notice' | 'delta' | 'done' | 'error';
  conversation_id?: string;
  message_id?: string;
  engine?: string;
  model?: string | null;
  message?: string;
  text?: string;
  code?: string;
}

export interface IChatContext {
  path?: string | null;
  language?: string | null;
  notebook?: string | null;
  selection?: string | null;
  error?: { ename: string; evalue: string; traceback: string[] } | null;
}

export interface IChatRequest {
  message: string;
  conversation_id?: string | null;
  action?: 'chat' | 'explain_error' | 'fix_error';
  context?: IChatContext | null;
}

export interface IConversationSummary {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  message_count: number;
}

export interface IConversation {
  id: string;
  title: string;
  messages: { id: string; role: 'user' | 'assistant'; content: string; engine: string }[];
}

export interface IPatternSummary {
  id: string;
  title: string;
  description: string;
  language: string;
  tags: string[];
  kind?: string;
  usage_count?: number;
}

export interface IPatternDetail extends IPatternSummary {
  files: { path: string; content: string }[];
}

/** An error from the server, with the message a person can act on. */
export class AssistantError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string
  ) {
    super(message);
  }
}

const settings = (): ServerConnection.ISettings => ServerConnection.makeSettings();

export function url(...parts: string[]): string {
  return URLExt.join(settings().baseUrl, 'datazentr', ...parts);
}

async function failure(response: Response): Promise<AssistantError> {
  let message = `The server answered ${response.status} ${response.statusText}.`;
  let code = 'http_error';
  try {
    const body = await response.json();
    const error = body.error ?? body;
    if (typeof error === 'object' && error !== null) {
      message = error.message ?? (typeof error.detail === 'string' ? error.detail : message);
      code = error.code ?? code;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new AssistantError(message, response.status, code);
}

export async function requestJSON<T>(
  path: string[],
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const search = new URLSearchParams(query).toString();
  const target = url(...path) + (search ? `?${search}` : '');
  const response = await ServerConnection.makeRequest(target, init, settings());
  if (!response.ok) {
    throw await failure(response);
  }
  return response.status === 204 ? (undefined as T) : ((await response.json()) as T);
}

export function postJSON<T>(path: string[], body: unknown): Promise<T> {
  return requestJSON<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

/** Send a chat message; call onEvent for every NDJSON event as it arrives. */
export async function streamChat(
  request: IChatRequest,
  onEvent: (event: IChatEvent) => void,
  signal?: AbortSignal
): Promise<void> {
  const response = await ServerConnection.makeRequest(
    url('assistant', 'chat'),
    { method: 'POST', body: JSON.stringify(request), signal },
    settings()
  );
  if (!response.ok) {
    throw await failure(response);
  }
  if (!response.body) {
    throw new AssistantError('The answer could not be read.', 500, 'no_body');
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) {
        onEvent(JSON.parse(line) as IChatEvent);
      }
      newline = buffer.indexOf('\n');
    }
  }
  if (buffer.trim()) {
    onEvent(JSON.parse(buffer) as IChatEvent);
  }
}

export function engineLabel(status: IEngineStatus | null): string {
  if (!status) {
    return 'Assistant: …';
  }
  if (status.engine === 'model' && status.model_reachable === false) {
    return 'Assistant: offline (model unreachable)';
  }
  if (status.engine === 'model' && status.model) {
    return `Assistant: ${status.model}`;
  }
  return 'Assistant: offline';
}
