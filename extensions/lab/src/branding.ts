/**
 * The organisation's branding in JupyterLab's top bar: its logo and name in place of
 * Jupyter's logo, its colours as JupyterLab's brand colours. A person in no organisation
 * (or while the api is away) keeps JupyterLab's own look.
 */
import { ILabShell } from '@jupyterlab/application';
import { Widget } from '@lumino/widgets';

import { requestJSON } from './api';

export interface IBrand {
  organisation: string;
  name: string;
  primary: string | null;
  accent: string | null;
  logo_url: string | null;
  stylesheet_url: string;
}

const COLOUR = /^#[0-9a-f]{6}$/;

/** The top bar's widget: the logo (an image the api serves) and the name, as text. */
export function brandWidget(brand: IBrand): Widget {
  const widget = new Widget();
  widget.id = 'dz-brand';
  widget.addClass('dz-brand');
  widget.node.title = brand.name;
  if (brand.logo_url && brand.logo_url.startsWith('/')) {
    const logo = document.createElement('img');
    logo.className = 'dz-brand-logo';
    logo.src = brand.logo_url;
    logo.alt = '';
    widget.node.appendChild(logo);
  }
  const name = document.createElement('span');
  name.className = 'dz-brand-name';
  name.textContent = brand.name;
  widget.node.appendChild(name);
  return widget;
}

/** JupyterLab's brand colours become the organisation's (only checked #rrggbb values). */
export function applyColours(brand: IBrand, root: HTMLElement = document.body): void {
  if (brand.primary && COLOUR.test(brand.primary)) {
    root.style.setProperty('--jp-brand-color1', brand.primary);
    root.style.setProperty('--dz-brand-primary', brand.primary);
  }
  if (brand.accent && COLOUR.test(brand.accent)) {
    root.style.setProperty('--jp-brand-color2', brand.accent);
    root.style.setProperty('--dz-brand-accent', brand.accent);
  }
  root.dataset.dzBrand = brand.organisation;
}

async function fetchBrand(): Promise<IBrand | null> {
  try {
    return (await requestJSON<{ branding: IBrand | null }>(['branding'])).branding;
  } catch {
    return null; // the api is away: JupyterLab's own look
  }
}

export async function showBranding(shell: ILabShell): Promise<IBrand | null> {
  const brand = await fetchBrand();
  if (brand) {
    applyColours(brand);
    document.body.classList.add('dz-branded');
    shell.add(brandWidget(brand), 'top', { rank: 0 });
  }
  document.body.dataset.dzBrandChecked = 'yes'; // asked (tests and styles may wait for it)
  return brand;
}
