/**
 * The pattern search panel: search the library, insert a pattern, say whether it worked.
 */
import { Widget } from '@lumino/widgets';

import { IPatternDetail, IPatternSummary, postJSON, requestJSON } from './api';

/** Puts code where the user works; returns where it went, or null when nothing is open. */
export type Inserter = (code: string) => string | null;

interface ISearchResult {
  rank?: number;
  pattern: IPatternSummary;
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

/** The search answer in either shape: `{results: [{pattern}]}` or `{items: [...]}`. */
export function patternsOf(body: any): IPatternSummary[] {
  if (Array.isArray(body?.results)) {
    return body.results.map((result: ISearchResult | IPatternSummary) =>
      'pattern' in result ? result.pattern : result
    );
  }
  return Array.isArray(body?.items) ? body.items : [];
}

export class PatternPanel extends Widget {
  constructor(private readonly insert: Inserter) {
    super();
    this.id = 'datazentr-patterns';
    this.addClass('dz-patterns-panel');
    this.title.caption = 'Pattern library';

    const form = element('form', 'dz-patterns-form');
    this.query = element('input', 'dz-patterns-query jp-mod-styled');
    this.query.type = 'search';
    this.query.placeholder = 'Search patterns, e.g. "retry http requests"';
    const button = element('button', 'dz-patterns-search jp-Button', 'Search');
    button.type = 'submit';
    form.onsubmit = event => {
      event.preventDefault();
      void this.search();
    };
    form.append(this.query, button);
    this.status = element('div', 'dz-patterns-status');
    this.results = element('div', 'dz-patterns-results');
    this.node.append(form, this.status, this.results);
  }

  async search(text?: string): Promise<void> {
    const q = (text ?? this.query.value).trim();
    if (!q) {
      this.say('Type what you are looking for.');
      return;
    }
    this.query.value = q;
    this.say('Searching…');
    this.results.replaceChildren();
    try {
      const body = await requestJSON<unknown>(['patterns', 'search'], {}, { q, limit: '10' });
      const patterns = patternsOf(body);
      this.say(patterns.length ? '' : `No pattern matches "${q}".`);
      for (const pattern of patterns) {
        this.results.append(this.card(pattern));
      }
    } catch (error) {
      this.say((error as Error).message, true);
    }
  }

  private card(pattern: IPatternSummary): HTMLElement {
    const card = element('div', 'dz-pattern-card');
    card.dataset.patternId = pattern.id;
    card.append(
      element('div', 'dz-pattern-title', pattern.title),
      element('div', 'dz-pattern-meta', [pattern.language, ...(pattern.tags ?? [])].join(' · ')),
      element('div', 'dz-pattern-description', pattern.description)
    );
    const actions = element('div', 'dz-pattern-actions');
    const insert = element('button', 'dz-pattern-insert jp-Button', 'Insert');
    insert.title = 'Insert into the active cell or editor';
    insert.onclick = () => void this.insertPattern(pattern, card);
    actions.append(insert);
    card.append(actions);
    return card;
  }

  private async insertPattern(pattern: IPatternSummary, card: HTMLElement): Promise<void> {
    try {
      const detail = await requestJSON<IPatternDetail>(['patterns', pattern.id]);
      const code = (detail.files ?? []).map(file => file.content).join('\n\n');
      const where = this.insert(code);
      if (!where) {
        this.say('Open a notebook or a file first, then insert.', true);
        return;
      }
      this.say(`Inserted "${pattern.title}" into ${where}. Did it work?`);
      this.feedbackButtons(pattern, card);
    } catch (error) {
      this.say((error as Error).message, true);
    }
  }

  private feedbackButtons(pattern: IPatternSummary, card: HTMLElement): void {
    card.querySelector('.dz-pattern-feedback')?.remove();
    const box = element('div', 'dz-pattern-feedback');
    const vote = (worked: boolean) => async () => {
      try {
        await postJSON(['patterns', pattern.id, 'feedback'], { worked });
        box.replaceChildren(element('span', 'dz-pattern-thanks', 'Thanks, noted.'));
      } catch (error) {
        this.say((error as Error).message, true);
      }
    };
    const yes = element('button', 'dz-pattern-worked jp-Button', 'Worked');
    yes.onclick = vote(true);
    const no = element('button', 'dz-pattern-failed jp-Button', "Didn't work");
    no.onclick = vote(false);
    box.append(yes, no);
    card.append(box);
  }

  private say(text: string, isError = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('dz-error', isError);
  }

  private readonly query: HTMLInputElement;
  private readonly status: HTMLDivElement;
  private readonly results: HTMLDivElement;
}
