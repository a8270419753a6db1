import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { expectPositionals, stringOption } from '../args';
import { EXIT, UsageError } from '../errors';
import { send } from '../http';
import type { CommandSpec } from './command';

const COMMAND = 'hook call';

/** What each refusal of the hook (apps/ingress hooks.route.ts) asks the caller to do. */
const HINTS: Readonly<Record<number, string>> = {
  400: 'the payload is invalid: the details above name each problem',
  401: "this broadcast is not in direct mode: export the bot's API token as HERALD_BOT_TOKEN",
  403: "this machine's address is not in the broadcast's allowed_hosts",
  404: 'no enabled broadcast has this hook: check the URL (after rotate-hook the old one answers 404) and that the broadcast is enabled',
  405: 'this broadcast does not take POST calls (allow_post is off)',
  413: 'the payload is larger than the ingress takes (HOOK_BODY_LIMIT_BYTES)',
  415: 'send the payload as JSON',
  503: 'the ingress cannot record calls right now: try again shortly',
};

/**
 * The hook URL is a secret (whoever has it launches the broadcast): it is never repeated in a
 * message, which may end up in a CI log. HERALD_HOOK_URL keeps it out of `ps` too.
 */
export function hookUrl(raw: string | undefined): URL {
  if (raw === undefined) throw new UsageError('missing URL', "pass the broadcast's hook_url, or export it as HERALD_HOOK_URL");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `the hook URL given (${raw.length} characters) is not a URL`,
      "pass the broadcast's hook_url, as the admin API showed it when the broadcast was created or its hook rotated",
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the hook URL given is not http(s) (${url.protocol})`);
  return url;
}

/** --data as given, from a file (`@payload.json`) or from stdin (`-`); checked to be JSON here. */
export async function hookBody(data: string | undefined, stdin: Readable): Promise<string | undefined> {
  if (data === undefined) return undefined;
  let body: string;
  if (data === '-') body = await text(stdin);
  else if (data.startsWith('@')) {
    body = await readFile(data.slice(1), 'utf8').catch((error: Error) => {
      throw new UsageError(`cannot read ${data.slice(1)}: ${error.message}`);
    });
  } else body = data;
  try {
    JSON.parse(body);
  } catch (error) {
    throw new UsageError(
      `--data is not JSON: ${(error as Error).message}`,
      `e.g. --data '{"audience_filters":"city","audience_criteria":"Equals","audience_values":"Rome"}'`,
    );
  }
  return body;
}

export const hookCall: CommandSpec = {
  words: ['hook', 'call'],
  synopsis: '[URL] [--data JSON|@FILE|-] [--idempotency-key KEY]',
  summary: "call a broadcast's launch web hook and print the answer",
  help: `POSTs to a broadcast's hook URL (its hook_url) and prints the answer: the status and
the body. The hook is public: no admin key is sent.

Arguments:
  URL                       the broadcast's hook_url (shown once, by the answer to its
                            creation or to rotate-hook); default: HERALD_HOOK_URL, which
                            keeps the secret out of ps
Options:
  --data JSON|@FILE|-       the payload (audience filters, set_variables, targets…); @FILE
                            reads a file, - reads stdin. Without it the broadcast's own
                            audience is used
  --idempotency-key KEY     sent as Idempotency-Key: a repeated call is answered, not repeated

For a broadcast not in direct mode, export the bot's API token as HERALD_BOT_TOKEN (an
environment variable, not an option: arguments show in ps).

Exit code 0 when the hook accepted the call (200), 1 when it refused it.
With --json: {"status": 200, "body": {...}}.

Examples:
  herald hook call "$HOOK_URL"
  herald hook call "$HOOK_URL" --data '{"audience_filters":"city","audience_criteria":"Equals","audience_values":"Rome"}'`,
  options: { data: { type: 'string' }, 'idempotency-key': { type: 'string' } },

  async run(ctx, { positionals, values }) {
    if (positionals.length > 1) expectPositionals(positionals, ['URL'], COMMAND);
    const url = hookUrl(positionals[0] ?? (ctx.env['HERALD_HOOK_URL'] || undefined));
    const body = await hookBody(stringOption(values, 'data'), ctx.stdin);
    const token = ctx.env['HERALD_BOT_TOKEN'] || undefined;
    const idempotencyKey = stringOption(values, 'idempotency-key');
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}),
    };

    const answer = await send(
      url,
      { method: 'POST', headers, ...(body !== undefined ? { body } : {}) },
      'check the hook URL and that the ingress is running there',
    );
    let parsed: unknown = answer.body;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      // not JSON (a proxy's page): shown as text
    }
    // The answer is the result either way, so a script sees the same shape for 200 and 404.
    ctx.out.result({ status: answer.status, body: parsed }, () => {
      const shown = typeof parsed === 'string' ? parsed : JSON.stringify(parsed, null, 2);
      return `${answer.status} ${answer.statusText}${shown ? `\n${shown}` : ''}`;
    });
    if (answer.status >= 200 && answer.status < 300) return EXIT.ok;
    ctx.out.warn(
      `the hook refused the call (${answer.status})`,
      HINTS[answer.status] ?? (answer.status >= 500 ? 'the ingress failed: its log has the reference above' : undefined),
    );
    return EXIT.failed;
  },
};
