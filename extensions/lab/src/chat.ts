/**
 * The chat side panel: streamed answers, conversation history, engine status.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import {
  AssistantError,
  IChatContext,
  IChatRequest,
  IConversation,
  IConversationSummary,
  IEngineStatus,
  engineLabel,
  requestJSON,
  streamChat
} from './api';

export type ContextProvider = () => IChatContext | null;

/** Fired on window with the latest engine status, for the status bar. */
export const STATUS_EVENT = 'datazentr-assistant-status';

/** Render an answer: text as text, ``` fenced blocks as code. */
export function renderAnswer(target: HTMLElement, text: string): void {
  const parts = text.split(/```[^\n]*\n?/);
  target.replaceChildren();
  parts.forEach((part, index) => {
    if (!part) {
      return;
    }
    if (index % 2 === 1) {
      target.append(element('pre', 'dz-chat-code', part.replace(/\n$/, '')));
    } else {
      target.append(document.createTextNode(part));
    }
  });
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

export class ChatPanel extends Widget {
  constructor(
    private readonly contextProvider: ContextProvider,
    private readonly rendermime: IRenderMimeRegistry | null = null,
    private readonly insert: ((code: string) => string | null) | null = null
  ) {
    super();
    this.id = 'datazentr-chat';
    this.addClass('dz-chat-panel');
    this.title.caption = 'DATAZENtr assistant';

    const header = element('div', 'dz-chat-header');
    this.engine = element('span', 'dz-engine-label', engineLabel(null));
    this.history = element('select', 'dz-chat-history');
    this.history.title = 'Earlier conversations';
    this.history.onchange = () => void this.openConversation(this.history.value);
    const fresh = element('button', 'dz-chat-new jp-Button', 'New');
    fresh.title = 'Start a new conversation';
    fresh.onclick = () => this.newConversation();
    header.append(this.engine, this.history, fresh);

    this.notice = element('div', 'dz-chat-notice');
    this.notice.hidden = true;
    this.messages = element('div', 'dz-chat-messages');
    this.messages.setAttribute('aria-live', 'polite');

    const form = element('form', 'dz-chat-form');
    this.input = element('textarea', 'dz-chat-input');
    this.input.placeholder = 'Ask about your code or data (Enter sends, Shift+Enter: new line)';
    this.input.rows = 3;
    this.input.onkeydown = event => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        void this.send();
      }
    };
    this.sendButton = element('button', 'dz-chat-send jp-Button', 'Send');
    this.sendButton.type = 'submit';
    form.onsubmit = event => {
      event.preventDefault();
      void this.send();
    };
    form.append(this.input, this.sendButton);
    this.node.append(header, this.notice, this.messages, form);
  }

  /** Ask from a command ("explain this error"); opens nothing by itself. */
  async ask(
    message: string,
    action: IChatRequest['action'] = 'chat',
    context?: IChatContext | null
  ): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    this.sendButton.disabled = true;
    this.append('user', message);
    const answer = this.append('assistant', '');
    answer.classList.add('dz-streaming');
    const request: IChatRequest = {
      message,
      action,
      conversation_id: this.conversationId,
      context: context === undefined ? this.contextProvider() : context
    };
    try {
      await streamChat(request, event => {
        switch (event.type) {
          case 'start':
            this.conversationId = event.conversation_id ?? this.conversationId;
            answer.dataset.engine = event.engine ?? '';
            answer.dataset.model = event.model ?? '';
            break;
          case 'notice':
            this.showNotice(event.message ?? '');
            break;
          case 'delta':
            answer.querySelector('.dz-chat-text')!.textContent += event.text ?? '';
            this.messages.scrollTop = this.messages.scrollHeight;
            break;
          case 'done': {
            answer.dataset.engine = event.engine ?? answer.dataset.engine ?? '';
            const text = answer.querySelector('.dz-chat-text') as HTMLElement;
            void this.render(text, text.textContent ?? '');
            this.label(answer);
            break;
          }
          case 'error':
            this.showNotice(event.message ?? 'The answer stopped early.', true);
            break;
        }
      });
    } catch (error) {
      const text =
        error instanceof AssistantError || error instanceof Error
          ? error.message
          : String(error);
      this.showNotice(text, true);
      answer.remove();
    } finally {
      answer.classList.remove('dz-streaming');
      this.busy = false;
      this.sendButton.disabled = false;
      void this.refreshHistory();
      void this.refreshStatus(true);
    }
  }

  async refreshStatus(fresh = false): Promise<IEngineStatus | null> {
    try {
      const query: Record<string, string> = fresh ? { fresh: '1' } : {};
      const status = await requestJSON<IEngineStatus>(['assistant', 'status'], {}, query);
      window.dispatchEvent(new CustomEvent(STATUS_EVENT, { detail: status }));
      this.engine.textContent = engineLabel(status);
      this.engine.dataset.engine = status.engine;
      if (status.api_reachable === false && status.message) {
        this.showNotice(status.message);
      } else if (status.engine === 'model' && status.model_reachable === false) {
        this.showNotice('The model endpoint is unreachable; the offline engine answers.');
      }
      return status;
    } catch (error) {
      this.engine.textContent = engineLabel(null);
      return null;
    }
  }

  async refreshHistory(): Promise<void> {
    try {
      const { conversations } = await requestJSON<{ conversations: IConversationSummary[] }>([
        'assistant',
        'conversations'
      ]);
      this.history.replaceChildren(new Option('History…', ''));
      for (const item of conversations) {
        const option = new Option(`${item.title} (${item.message_count})`, item.id);
        option.selected = item.id === this.conversationId;
        this.history.append(option);
      }
    } catch {
      this.history.replaceChildren(new Option('History unavailable', ''));
    }
  }

  protected onAfterAttach(): void {
    void this.refreshStatus();
    void this.refreshHistory();
  }

  private newConversation(): void {
    this.conversationId = null;
    this.messages.replaceChildren();
    this.notice.hidden = true;
    this.history.value = '';
    this.input.focus();
  }

  private async openConversation(id: string): Promise<void> {
    if (!id) {
      return this.newConversation();
    }
    try {
      const conversation = await requestJSON<IConversation>(['assistant', 'conversations', id]);
      this.conversationId = conversation.id;
      this.messages.replaceChildren();
      for (const message of conversation.messages) {
        const node = this.append(message.role, message.content);
        if (message.role === 'assistant') {
          await this.render(node.querySelector('.dz-chat-text') as HTMLElement, message.content);
        }
        node.dataset.engine = message.engine ?? '';
        this.label(node);
      }
    } catch (error) {
      this.showNotice((error as Error).message, true);
    }
  }

  private async send(): Promise<void> {
    const message = this.input.value.trim();
    if (!message || this.busy) {
      return;
    }
    this.input.value = '';
    this.notice.hidden = true;
    await this.ask(message);
  }

  /** A finished answer as Markdown (sanitized: answers are untrusted), or plain text with
   * code blocks when no renderer is available. */
  private async render(target: HTMLElement, text: string): Promise<void> {
    if (!this.rendermime) {
      renderAnswer(target, text);
    } else {
      const renderer = this.rendermime.createRenderer('text/markdown');
      await renderer.renderModel(
        new MimeModel({ data: { 'text/markdown': text }, trusted: false })
      );
      target.classList.add('dz-rendered');
      target.replaceChildren(renderer.node);
    }
    this.addInsertButtons(target);
  }

  /** Each code block of an answer gets "Insert": into the active cell or editor. */
  private addInsertButtons(target: HTMLElement): void {
    const insert = this.insert;
    if (!insert) {
      return;
    }
    target.querySelectorAll('pre').forEach(block => {
      const button = element('button', 'dz-chat-insert jp-Button', 'Insert');
      button.title = 'Insert this code into the active cell or editor';
      button.onclick = () => {
        const where = insert(block.textContent ?? '');
        this.showNotice(where ? `Inserted into ${where}.` : 'Open a notebook or a file first.');
      };
      block.after(button);
    });
  }

  private append(role: 'user' | 'assistant', text: string): HTMLElement {
    const node = element('div', `dz-chat-message dz-role-${role}`);
    node.append(element('div', 'dz-chat-text', text));
    this.messages.append(node);
    this.messages.scrollTop = this.messages.scrollHeight;
    return node;
  }

  private label(node: HTMLElement): void {
    if (node.classList.contains('dz-role-assistant') && node.dataset.engine) {
      node.querySelector('.dz-chat-engine')?.remove();
      const engine =
        node.dataset.engine === 'offline'
          ? 'offline engine'
          : node.dataset.model || node.dataset.engine;
      node.append(element('div', 'dz-chat-engine', `answered by: ${engine}`));
    }
  }

  private showNotice(text: string, isError = false): void {
    this.notice.textContent = text;
    this.notice.classList.toggle('dz-error', isError);
    this.notice.hidden = !text;
  }

  private readonly engine: HTMLSpanElement;
  private readonly history: HTMLSelectElement;
  private readonly notice: HTMLDivElement;
  private readonly messages: HTMLDivElement;
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private conversationId: string | null = null;
  private busy = false;
}
