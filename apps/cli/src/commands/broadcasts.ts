import { describeAudience, type Audience } from '@herald/core';
import { expectPositionals, idArgument, integerOption, requiredOption, stringOption } from '../args';
import { EXIT } from '../errors';
import type { CommandSpec } from './command';

/** A broadcast as the admin API shows it (apps/admin presenters.ts presentBroadcast). */
export interface BroadcastView {
  id: string;
  bot_id: string;
  name: string;
  enabled: boolean;
  audience: Audience | null;
  message: { text: string; channels?: Record<string, unknown> };
  allowed_hosts: string[] | null;
  allow_get: boolean;
  allow_post: boolean;
  direct_mode: boolean;
  require_valid_filter: boolean;
  delay_ms: number;
  max_delay_ms: number | null;
  /** The hook URL ending in the token's last 4 characters: the URL itself is shown only by create and rotate-hook. */
  hook_url_hint: string;
  hook_rotated_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Every list of the admin API: a keyset page (apps/admin http/pagination.ts). */
interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

export function audienceText(audience: Audience | null): string {
  return audience ? describeAudience(audience) : describeAudience({ filters: [], join: [] });
}

/** Columns padded to their widest cell; names cut so a row stays on one line. */
export function broadcastTable(broadcasts: readonly BroadcastView[]): string {
  const rows = [
    ['ID', 'NAME', 'ENABLED', 'DELAY', 'CREATED'],
    ...broadcasts.map((b) => [b.id, b.name.length > 40 ? `${b.name.slice(0, 39)}…` : b.name, yesNo(b.enabled), `${b.delay_ms} ms`, b.created_at]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function broadcastDetails(b: BroadcastView): string {
  const methods = [b.allow_post ? 'POST' : undefined, b.allow_get ? 'GET' : undefined].filter(Boolean).join(', ') || 'none';
  const fields: [string, string][] = [
    ['id', b.id],
    ['name', b.name],
    ['bot_id', b.bot_id],
    ['enabled', yesNo(b.enabled)],
    ['message', JSON.stringify(b.message.text)],
    ...(b.message.channels && Object.keys(b.message.channels).length ? [['per channel', JSON.stringify(b.message.channels)] as [string, string]] : []),
    ['audience', audienceText(b.audience)],
    ['delay', `${b.delay_ms} ms after the last call${b.max_delay_ms === null ? '' : `, at most ${b.max_delay_ms} ms after the oldest pending one`}`],
    ['methods', methods],
    ['direct_mode', `${yesNo(b.direct_mode)}${b.direct_mode ? '' : " (calls need the bot's API token)"}`],
    ['require_valid_filter', yesNo(b.require_valid_filter)],
    ['allowed_hosts', b.allowed_hosts?.length ? b.allowed_hosts.join(', ') : 'any'],
    ['hook_url_hint', `${b.hook_url_hint} (the URL is shown whole once, when the broadcast is created or its hook rotated)`],
    ['hook_rotated_at', b.hook_rotated_at ?? 'never'],
    ['created_at', b.created_at],
    ['updated_at', b.updated_at],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  return fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

export const broadcastsList: CommandSpec = {
  words: ['broadcasts', 'list'],
  synopsis: '--bot ID [--limit N] [--all] [--cursor CURSOR]',
  summary: "list a bot's broadcasts, newest first",
  help: `Lists a bot's broadcasts (GET /v1/bots/:id/broadcasts), newest first, one page at a time.

Options:
  --bot ID           the bot (required)
  --limit N          broadcasts per page (1 to 500, default 50)
  --all              follow next_cursor to the last page
  --cursor CURSOR    start at this page (the next_cursor a previous page gave)

With --json: {"data": [...], "next_cursor": ...} as the API answers (with --all, every
page's data in one list and next_cursor null). The hook URL is not in it: the API shows it once,
when the broadcast is created or its hook rotated; hook_url_hint shows how it ends.

Example:
  herald broadcasts list --bot 0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21 --all`,
  options: { bot: { type: 'string' }, limit: { type: 'string' }, all: { type: 'boolean' }, cursor: { type: 'string' } },

  async run(ctx, { positionals, values }) {
    expectPositionals(positionals, [], 'broadcasts list');
    const botId = idArgument(requiredOption(values, 'bot', 'broadcasts list'), 'bot');
    const limit = integerOption(values, 'limit', { min: 1, max: 500, fallback: 50 });
    const all = values['all'] === true;
    const client = ctx.admin();

    const data: BroadcastView[] = [];
    const startCursor = stringOption(values, 'cursor');
    let cursor = startCursor;
    let next: string | null;
    do {
      const page = await client.get<Page<BroadcastView>>(
        `/v1/bots/${botId}/broadcasts`,
        { limit: String(limit), cursor },
        {
          hints: { 400: 'a --cursor must be a next_cursor this list gave', 404: `check the bot id: this server has no bot ${botId}` },
        },
      );
      data.push(...page.data);
      next = page.next_cursor;
      cursor = next ?? undefined;
    } while (all && next !== null);

    ctx.out.result({ data, next_cursor: next }, () =>
      data.length ? broadcastTable(data) : `no broadcasts${startCursor ? ' on this page' : ` for bot ${botId}`}`,
    );
    if (next !== null) ctx.out.note(`more broadcasts: add --cursor ${next} for the next page, or --all for every page`);
    return EXIT.ok;
  },
};

export const broadcastsShow: CommandSpec = {
  words: ['broadcasts', 'show'],
  synopsis: 'ID',
  summary: 'show one broadcast',
  help: `Shows a broadcast (GET /v1/broadcasts/:id): message, audience, timing, who may call it,
and how its hook URL ends (hook_url_hint). The URL itself is a secret the API shows only once,
when the broadcast is created or its hook rotated (POST /v1/broadcasts/:id/rotate-hook).

With --json: the broadcast as the API answers.

Example:
  herald broadcasts show 7d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a`,
  options: {},

  async run(ctx, { positionals }) {
    expectPositionals(positionals, ['ID'], 'broadcasts show');
    const id = idArgument(positionals[0]!, 'broadcast');
    const broadcast = await ctx
      .admin()
      .get<BroadcastView>(`/v1/broadcasts/${id}`, {}, { hints: { 404: `check the broadcast id: this server has no broadcast ${id}` } });
    ctx.out.result(broadcast, () => broadcastDetails(broadcast));
    return EXIT.ok;
  },
};
