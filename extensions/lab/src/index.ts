/**
 * DATAZENtr in JupyterLab: assistant chat, pattern search, inline completion, notebook
 * generation, engine status, and the dashboards launcher.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { IChatContext, IEngineStatus, engineLabel, postJSON, requestJSON } from './api';
import { ChatPanel, STATUS_EVENT } from './chat';
import { showBranding } from './branding';
import { AssistantInlineProvider } from './completion';
import { PatternPanel } from './patterns';
import { watchSessionTime } from './session';

const chatIcon = new LabIcon({
  name: 'datazentr:chat',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M4 4h16v11H8l-4 4z"/></svg>'
});
const patternIcon = new LabIcon({
  name: 'datazentr:patterns',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M3 3h8v8H3zm10 0h8v8h-8zM3 13h8v8H3zm10 0h8v8h-8z"/></svg>'
});
const notebookIcon = new LabIcon({
  name: 'datazentr:generate-notebook',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M5 2h11l4 4v16H5zm2 5v2h10V7zm0 4v2h10v-2zm0 4v2h6v-2z"/></svg>'
});
const dashboardIcon = new LabIcon({
  name: 'datazentr:dashboards',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z"/></svg>'
});

namespace CommandIDs {
  export const openChat = 'datazentr:open-chat';
  export const openPatterns = 'datazentr:open-patterns';
  export const explainError = 'datazentr:explain-error';
  export const fixError = 'datazentr:fix-error';
  export const generateNotebook = 'datazentr:generate-notebook';
  export const openDashboards = 'datazentr:open-dashboards';
}

const MAX_EXCERPT = 60000;

/** The hub's base (the part before /user/<name>/), where /services/dashboards/ lives. */
function dashboardsUrl(): string {
  const hubPrefix = PageConfig.getOption('hubPrefix'); // e.g. /hub/
  const base = hubPrefix ? hubPrefix.replace(/hub\/?$/, '') : '/';
  return URLExt.join(base, 'services', 'dashboards') + '/';
}

function notebookExcerpt(panel: NotebookPanel): string {
  const parts: string[] = [];
  for (const cell of panel.content.widgets) {
    parts.push(`# [${cell.model.type}]\n${cell.model.sharedModel.getSource()}`);
  }
  return parts.join('\n\n').slice(-MAX_EXCERPT);
}

interface ICellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

function lastError(panel: NotebookPanel | null): ICellError | null {
  const cell = panel?.content.activeCell;
  if (!cell || cell.model.type !== 'code') {
    return null;
  }
  const outputs = (cell.model as any).outputs;
  for (let i = outputs.length - 1; i >= 0; i--) {
    const output = outputs.get(i).toJSON();
    if (output.output_type === 'error') {
      const strip = (line: string) => line.replace(/\u001b\[[0-9;]*m/g, '');
      return {
        ename: String(output.ename),
        evalue: String(output.evalue),
        traceback: (output.traceback as string[]).map(strip)
      };
    }
  }
  return null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@datazentr/assistant:plugin',
  description: 'Assistant chat, pattern search, inline completion and notebook generation.',
  autoStart: true,
  requires: [ILabShell, INotebookTracker, IDocumentManager],
  optional: [
    ICommandPalette,
    ICompletionProviderManager,
    ILauncher,
    IStatusBar,
    IRenderMimeRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    notebooks: INotebookTracker,
    docManager: IDocumentManager,
    palette: ICommandPalette | null,
    completion: ICompletionProviderManager | null,
    launcher: ILauncher | null,
    statusBar: IStatusBar | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const { commands } = app;

    const context = (): IChatContext | null => {
      const panel = notebooks.currentWidget;
      if (!panel) {
        return null;
      }
      const editor = panel.content.activeCell?.editor;
      let selection: string | null = null;
      if (editor) {
        const { start, end } = editor.getSelection();
        const source = editor.model.sharedModel.getSource();
        const from = editor.getOffsetAt(start);
        const to = editor.getOffsetAt(end);
        selection = from !== to ? source.slice(Math.min(from, to), Math.max(from, to)) : null;
      }
      return {
        path: panel.context.path,
        language: 'python',
        notebook: notebookExcerpt(panel),
        selection,
        error: lastError(panel)
      };
    };

    const insert = (code: string): string | null => {
      const widget: any = shell.currentWidget;
      const notebook = widget instanceof NotebookPanel ? widget : notebooks.currentWidget;
      const cell = notebook?.content.activeCell;
      if (notebook && cell) {
        const source = cell.model.sharedModel;
        const current = source.getSource();
        source.setSource(current.trim() ? `${current.replace(/\s+$/, '')}\n\n${code}` : code);
        return `${notebook.context.path} (cell ${notebook.content.activeCellIndex + 1})`;
      }
      const editor = widget?.content?.editor;
      if (editor?.model?.sharedModel) {
        const position = editor.getCursorPosition();
        const offset = editor.getOffsetAt(position);
        editor.model.sharedModel.updateSource(offset, offset, code);
        return widget.context?.path ?? 'the editor';
      }
      return null;
    };
    const chat = new ChatPanel(context, rendermime, insert);
    chat.title.icon = chatIcon;
    shell.add(chat, 'right', { rank: 200 });

    const patterns = new PatternPanel(insert);
    patterns.title.icon = patternIcon;
    shell.add(patterns, 'left', { rank: 600 });

    if (completion) {
      completion.registerInlineProvider(new AssistantInlineProvider());
    } else {
      console.warn('DATAZENtr: no completion provider manager; inline completion is off');
    }

    commands.addCommand(CommandIDs.openChat, {
      label: 'Open Assistant Chat',
      icon: chatIcon,
      execute: () => shell.activateById(chat.id)
    });
    commands.addCommand(CommandIDs.openPatterns, {
      label: 'Search Patterns',
      icon: patternIcon,
      execute: () => shell.activateById(patterns.id)
    });
    const errorCommand = (action: 'explain_error' | 'fix_error') => async () => {
      const ctx = context();
      if (!ctx?.error) {
        await showErrorMessage('No error here', 'Select a code cell whose run failed first.');
        return;
      }
      shell.activateById(chat.id);
      const question =
        action === 'explain_error'
          ? `Explain this error: ${ctx.error.ename}: ${ctx.error.evalue}`
          : `Fix this error: ${ctx.error.ename}: ${ctx.error.evalue}`;
      await chat.ask(question, action, ctx);
    };
    commands.addCommand(CommandIDs.explainError, {
      label: 'Explain This Error',
      caption: 'Ask the assistant what the failed cell’s error means',
      execute: errorCommand('explain_error')
    });
    commands.addCommand(CommandIDs.fixError, {
      label: 'Fix This Error',
      caption: 'Ask the assistant for a fix of the failed cell',
      execute: errorCommand('fix_error')
    });
    commands.addCommand(CommandIDs.generateNotebook, {
      label: 'Generate notebook from description',
      icon: notebookIcon,
      execute: async () => {
        const answer = await InputDialog.getText({
          title: 'Generate notebook from description',
          label: 'What should the notebook do?',
          placeholder: 'e.g. load a CSV of sales, clean it, and plot monthly totals'
        });
        if (!answer.button.accept || !answer.value?.trim()) {
          return;
        }
        try {
          const folder = (app.shell as any).currentWidget?.context?.path ?? '';
          const result = await postJSON<{ path: string; title: string; engine: string }>(
            ['assistant', 'notebook'],
            { description: answer.value, path: folder.includes('/') ? folder.replace(/\/[^/]*$/, '') : '' }
          );
          await docManager.openOrReveal(result.path);
        } catch (error) {
          await showErrorMessage('The notebook could not be generated', (error as Error).message);
        }
      }
    });
    commands.addCommand(CommandIDs.openDashboards, {
      label: 'Dashboards',
      caption: 'Open the platform dashboards in a new tab',
      icon: dashboardIcon,
      execute: () => {
        window.open(dashboardsUrl(), '_blank', 'noopener');
      }
    });

    app.contextMenu.addItem({ command: CommandIDs.explainError, selector: '.jp-CodeCell', rank: 20 });
    app.contextMenu.addItem({ command: CommandIDs.fixError, selector: '.jp-CodeCell', rank: 21 });

    if (palette) {
      const category = 'DATAZENtr';
      for (const command of Object.values(CommandIDs)) {
        palette.addItem({ command, category });
      }
    }
    if (launcher) {
      launcher.add({ command: CommandIDs.openDashboards, category: 'DATAZENtr', rank: 1 });
      launcher.add({ command: CommandIDs.generateNotebook, category: 'DATAZENtr', rank: 2 });
    }
    watchSessionTime();
    void showBranding(shell);
    if (statusBar) {
      const item = new Widget();
      item.addClass('dz-status-engine');
      item.node.textContent = engineLabel(null);
      item.node.title = 'Which engine answers the assistant';
      item.node.onclick = () => shell.activateById(chat.id);
      const update = async () => {
        try {
          const status = await requestJSON<IEngineStatus>(['assistant', 'status']);
          item.node.textContent = engineLabel(status);
          item.node.dataset.engine = status.engine;
          item.node.title = status.message ?? 'Which engine answers the assistant';
        } catch {
          item.node.textContent = 'Assistant: unavailable';
        }
      };
      statusBar.registerStatusItem('@datazentr/assistant:status', {
        item,
        align: 'left',
        rank: 100
      });
      void update();
      window.setInterval(() => void update(), 60000);
      window.addEventListener(STATUS_EVENT, event => {
        const status = (event as CustomEvent<IEngineStatus>).detail;
        item.node.textContent = engineLabel(status);
        item.node.dataset.engine = status.engine;
      });
    }
  }
};

export default plugin;
