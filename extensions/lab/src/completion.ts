/**
 * Inline completion (ghost text) from the assistant server extension, over one WebSocket
 * in jupyter-ai v2's wire format.
 */
import { URLExt } from '@jupyterlab/coreutils';
import {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';

interface IReply {
  type: string;
  reply_to: number;
  list?: { items: IInlineCompletionItem[] };
  error?: { type: string; title: string };
}

/** The language at the cursor: the editor's mime type, else the notebook's kernel
 * language, else the file's extension (the mime type is text/plain until a kernel says). */
function languageOf(mime: string, path: string | undefined, widget: any): string {
  if (mime.includes('python')) {
    return 'python';
  }
  const kernelLanguage: string | undefined =
    widget?.content?.model?.sharedModel?.metadata?.language_info?.name ??
    widget?.content?.model?.sharedModel?.metadata?.kernelspec?.language;
  if (kernelLanguage) {
    return kernelLanguage.toLowerCase();
  }
  if (path?.endsWith('.py') || path?.endsWith('.ipynb')) {
    return 'python';
  }
  return mime.split('/').pop()?.replace(/^x-/, '') ?? '';
}

export class AssistantInlineProvider implements IInlineCompletionProvider {
  readonly identifier = '@datazentr/assistant:inline';
  readonly name = 'DATAZENtr assistant';

  async fetch(
    request: CompletionHandler.IRequest,
    context: IInlineCompletionContext
  ): Promise<IInlineCompletionList> {
    const widget = context.widget as any;
    const path: string | undefined = widget?.context?.path;
    const mime = request.mimeType ?? 'text/plain';
    const language = languageOf(mime, path, widget);
    const number = ++this.counter;
    const reply = new PromiseDelegate<IReply>();
    this.pending.set(number, reply);
    try {
      const socket = await this.socket();
      socket.send(
        JSON.stringify({
          number,
          prefix: request.text.slice(0, request.offset),
          suffix: request.text.slice(request.offset),
          mime,
          stream: false,
          path,
          language,
          cell_id: widget?.content?.activeCell?.model?.id ?? null
        })
      );
      const answer = await reply.promise;
      return { items: answer.error ? [] : answer.list?.items ?? [] };
    } catch {
      return { items: [] };
    } finally {
      this.pending.delete(number);
    }
  }

  private socket(): Promise<WebSocket> {
    if (this.connection && this.connection.readyState <= WebSocket.OPEN) {
      return this.opened!;
    }
    const settings = ServerConnection.makeSettings();
    const url = URLExt.join(settings.wsUrl, 'api', 'ai', 'completion', 'inline');
    const socket = new settings.WebSocket(url);
    this.connection = socket;
    this.opened = new Promise((resolve, reject) => {
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error('inline completion socket failed'));
    });
    socket.onmessage = event => {
      const message = JSON.parse(event.data) as IReply;
      if (message.type === 'inline_completion') {
        this.pending.get(message.reply_to)?.resolve(message);
      }
    };
    socket.onclose = () => {
      for (const waiting of this.pending.values()) {
        waiting.reject(new Error('closed'));
      }
      this.connection = null;
    };
    return this.opened;
  }

  private counter = 0;
  private connection: WebSocket | null = null;
  private opened: Promise<WebSocket> | null = null;
  private readonly pending = new Map<number, PromiseDelegate<IReply>>();
}
