import type { ErrorDetail } from '@herald/core';
import { html, type HtmlValue, type SafeHtml } from './html';

/** Where the console is mounted; every link it makes starts here. */
export const CONSOLE_PATH = '/console';

export const consolePaths = {
  home: CONSOLE_PATH,
  broadcast: (id: string) => `${CONSOLE_PATH}/broadcasts/${id}`,
  run: (id: string) => `${CONSOLE_PATH}/runs/${id}`,
  runProgress: (id: string) => `${CONSOLE_PATH}/runs/${id}/progress.json`,
  stylesheet: `${CONSOLE_PATH}/assets/console.css`,
  script: `${CONSOLE_PATH}/assets/console.js`,
  favicon: `${CONSOLE_PATH}/assets/favicon.svg`,
};

/** What every page needs to know about where it is served. */
export interface ConsoleContext {
  /** The queue dashboard's path; undefined when this admin serves none (no producer). */
  dashboardPath: string | undefined;
}

export interface Crumb {
  label: string;
  href?: string;
}

export function layout(context: ConsoleContext, page: { title: string; crumbs?: readonly Crumb[]; body: HtmlValue }): SafeHtml {
  const crumbs = page.crumbs ?? [];
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>${page.title} · Herald console</title>
        <link rel="icon" href="${consolePaths.favicon}" type="image/svg+xml" />
        <link rel="stylesheet" href="${consolePaths.stylesheet}" />
        <script src="${consolePaths.script}" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="${consolePaths.home}">Herald console</a>
          <nav>
            <a href="${consolePaths.home}">Broadcasts</a>
            ${context.dashboardPath ? html`<a href="${context.dashboardPath}" data-link="queues">Queues dashboard</a>` : null}
          </nav>
        </header>
        <main>
          ${
            crumbs.length
              ? html`<p class="crumbs">
                  ${crumbs.map((crumb, i) => html`${i > 0 ? ' › ' : null}${crumb.href ? html`<a href="${crumb.href}">${crumb.label}</a>` : crumb.label}`)}
                </p>`
              : null
          }
          <h1>${page.title}</h1>
          ${page.body}
        </main>
      </body>
    </html> `;
}

/** A 4xx page a person can read (the API's JSON error body is for programs). */
export function errorPage(context: ConsoleContext, error: { status: number; message: string; details: readonly ErrorDetail[] }): SafeHtml {
  return layout(context, {
    title: error.message,
    body: html`<div class="error-page">
      <p class="code">${error.status}</p>
      ${
        error.details.length
          ? html`<ul>
              ${error.details.map((d) => html`<li><code>${d.path}</code> ${d.message}${d.expected ? `; expected ${d.expected}` : null}</li>`)}
            </ul>`
          : null
      }
      <p><a href="${consolePaths.home}">Back to the broadcasts</a></p>
    </div>`,
  });
}

/** A yes/no or status pill; `data-status` drives its colour and lets the live script update it. */
export function statusPill(status: string, attributes: { live?: boolean } = {}): SafeHtml {
  return html`<span class="status" data-status="${status}" ${attributes.live ? html` data-field="status"` : null}>${status}</span>`;
}
