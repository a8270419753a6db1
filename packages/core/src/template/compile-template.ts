import { isSystemField } from '../audience';

/**
 * Message templates (SPEC §4), a renderer of our own: mustache HTML-escapes by default and
 * resolves inherited keys, handlebars compiles to JavaScript. Here a template is compiled once
 * into a list of parts (text, or a path to look up) and rendered many times by walking data:
 * nothing in a template or a view is ever executed.
 *
 * - `{{path}}`, spaces allowed inside the braces. A path is a name (`[A-Za-z_][A-Za-z0-9_]*`)
 *   followed by `.name` and `[index]` steps: `{{order.items[0].sku}}`.
 * - `\{\{` renders a literal `{{`; any other backslash, and a `}}` outside a tag, is text.
 * - The first name is `payload` (the hook's body, when the view carries one), else a system
 *   field of the contact, else one of its variables. Later steps read only own data properties
 *   of objects and integer indexes of arrays: `{{constructor}}` or `{{name.length}}` find
 *   nothing, and a getter is never run.
 * - Missing (absent, out of range, null, a step through a non-object) renders empty; strings as
 *   they are, numbers and booleans as `String(v)`, objects and arrays as JSON. No HTML escaping:
 *   chat text is not HTML.
 */

/** What a template is rendered against: one contact and, where allowed, the hook's payload. */
export interface TemplateView {
  /** System fields of the contact (`first_name`, …), NULL columns as null. */
  fields: Readonly<Record<string, string | null>>;
  /** The contact's variables: strings, numbers, booleans or JSON, which paths walk into. */
  variables: Readonly<Record<string, unknown>>;
  /** The hook's JSON body, for `{{payload.…}}`; when undefined, `payload` names a variable. */
  payload?: unknown;
}

export interface CompiledTemplate {
  /** The distinct first names of the paths it reads, in order of first use. */
  readonly fields: readonly string[];
  render(view: TemplateView): string;
}

/** Why a template does not compile; `position` is the UTF-16 index in the source where the problem starts. */
export interface TemplateError {
  position: number;
  message: string;
}

export type CompileResult = { ok: true; template: CompiledTemplate } | { ok: false; error: TemplateError };

/** A step of a path after its first name: a property name or an array index. */
type Step = string | number;

type Part = { kind: 'text'; text: string } | { kind: 'value'; root: string; steps: readonly Step[] };

type Parsed<T> = { ok: true; value: T } | { ok: false; error: TemplateError };

const OPEN = '{{';
const CLOSE = '}}';
const ESCAPED_OPEN = '\\{\\{';
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const INDEX = /\d+/y;
const SPACE = /\s*/y;

export function compileTemplate(source: string): CompileResult {
  const parts: Part[] = [];
  let text = '';
  let at = 0;
  for (;;) {
    const open = source.indexOf(OPEN, at);
    const escaped = source.indexOf(ESCAPED_OPEN, at);
    if (escaped !== -1 && (open === -1 || escaped < open)) {
      text += source.slice(at, escaped) + OPEN;
      at = escaped + ESCAPED_OPEN.length;
      continue;
    }
    if (open === -1) break;
    text += source.slice(at, open);
    const close = source.indexOf(CLOSE, open + OPEN.length);
    if (close === -1) return failure(open, 'unclosed {{');
    const tag = parseTag(source.slice(open + OPEN.length, close), open + OPEN.length);
    if (!tag.ok) return tag;
    if (text) parts.push({ kind: 'text', text });
    text = '';
    parts.push(tag.value);
    at = close + CLOSE.length;
  }
  text += source.slice(at);
  if (text) parts.push({ kind: 'text', text });

  const fields = [...new Set(parts.flatMap((part) => (part.kind === 'value' ? [part.root] : [])))];
  return { ok: true, template: { fields, render: (view) => render(parts, view) } };
}

/** The inside of `{{ … }}`; `offset` is where it starts in the source, for error positions. */
function parseTag(inner: string, offset: number): Parsed<Part> {
  const fail = (at: number, message: string) => failure(offset + at, message);
  let at = match(SPACE, inner, 0).length;
  if (at === inner.length) return failure(offset - OPEN.length, 'empty {{ }}');
  const root = match(NAME, inner, at);
  if (!root) return fail(at, `expected a name (a letter or _, then letters, digits or _), found "${inner[at]}"`);
  at += root.length;
  const steps: Step[] = [];
  while (inner[at] === '.' || inner[at] === '[') {
    if (inner[at] === '.') {
      const name = match(NAME, inner, at + 1);
      if (!name) return fail(at + 1, 'expected a name after "."');
      steps.push(name);
      at += 1 + name.length;
    } else {
      const digits = match(INDEX, inner, at + 1);
      if (!digits) return fail(at + 1, 'expected an index (digits) after "["');
      if (inner[at + 1 + digits.length] !== ']') return fail(at + 1 + digits.length, 'expected "]"');
      steps.push(Number(digits));
      at += digits.length + 2;
    }
  }
  at += match(SPACE, inner, at).length;
  if (at < inner.length) return fail(at, `unexpected "${inner[at]}": a path is names joined by "." and "[index]"`);
  return { ok: true, value: { kind: 'value', root, steps } };
}

/** What a sticky pattern matches at `at`, or '' when nothing does. */
function match(pattern: RegExp, text: string, at: number): string {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0] ?? '';
}

function failure(position: number, message: string): { ok: false; error: TemplateError } {
  return { ok: false, error: { position, message } };
}

function render(parts: readonly Part[], view: TemplateView): string {
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    let value = rootValue(view, part.root);
    for (const step of part.steps) value = typeof step === 'number' ? element(value, step) : property(value, step);
    out += format(value);
  }
  return out;
}

/** Same order as audience filters (system field, else variable), with `payload` first. */
function rootValue(view: TemplateView, name: string): unknown {
  if (name === 'payload' && view.payload !== undefined) return view.payload;
  return property(isSystemField(name) ? view.fields : view.variables, name);
}

/**
 * An own data property of a plain object, else undefined: inherited names (`constructor`,
 * `__proto__`, `toString`) are absent, arrays and strings have no named properties here, and
 * reading a descriptor's value never runs a getter.
 */
function property(container: unknown, name: string): unknown {
  if (container === null || typeof container !== 'object' || Array.isArray(container)) return undefined;
  const descriptor = Object.getOwnPropertyDescriptor(container, name);
  return descriptor && 'value' in descriptor ? descriptor.value : undefined;
}

function element(container: unknown, index: number): unknown {
  if (!Array.isArray(container)) return undefined;
  const descriptor = Object.getOwnPropertyDescriptor(container, index);
  return descriptor && 'value' in descriptor ? descriptor.value : undefined;
}

function format(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return value === null ? '' : JSON.stringify(value);
    default:
      return ''; // missing; functions and symbols never come from JSON
  }
}
