import { compileTemplate, type CompiledTemplate, type TemplateView } from './compile-template';

const view: TemplateView = {
  fields: { user_id: '42', first_name: 'Ada', last_name: null, locale: 'it' },
  variables: {
    tier: 'gold',
    visits: 3,
    ratio: 0.5,
    vip: false,
    nothing: null,
    tags: ['new', 'local', 'late'],
    order: {
      id: 'A-1',
      items: [
        { sku: 'X1', qty: 2 },
        { sku: 'Y2', qty: 1 },
      ],
      note: null,
    },
    // A variable that shares a name with a system field is never read: the field wins.
    first_name: 'Shadowed',
  },
};

function compiled(source: string): CompiledTemplate {
  const result = compileTemplate(source);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(source)} to compile: ${result.error.message} at ${result.error.position}`);
  return result.template;
}

const render = (source: string, over: TemplateView = view) => compiled(source).render(over);

function errorOf(source: string) {
  const result = compileTemplate(source);
  if (result.ok) throw new Error(`expected ${JSON.stringify(source)} not to compile`);
  return result.error;
}

describe('compileTemplate', () => {
  describe('placeholders', () => {
    it.each([
      ['Hi {{first_name}}!', 'Hi Ada!'],
      ['Hi {{ first_name }}!', 'Hi Ada!'],
      ['{{\tfirst_name\n}}', 'Ada'],
      ['{{first_name}}{{last_name}}{{user_id}}', 'Ada42'],
      ['no placeholders at all', 'no placeholders at all'],
      ['', ''],
    ])('%j → %j', (source, expected) => {
      expect(render(source)).toBe(expected);
    });

    it('walks dotted paths and indexes into JSON variables', () => {
      expect(render('{{order.items[0].sku}} x{{order.items[0].qty}}, {{order.items[1].sku}}')).toBe('X1 x2, Y2');
      expect(render('{{tags[0]}}/{{tags[2]}}')).toBe('new/late');
      expect(render('{{ order.id }}')).toBe('A-1');
    });

    it('formats strings as they are, numbers and booleans as text, objects and arrays as JSON', () => {
      expect(render('{{tier}} {{visits}} {{ratio}} {{vip}}')).toBe('gold 3 0.5 false');
      expect(render('{{tags}}')).toBe('["new","local","late"]');
      expect(render('{{order.items[1]}}')).toBe('{"sku":"Y2","qty":1}');
    });

    it('reads a system field from the contact, never the variable of the same name', () => {
      expect(render('{{first_name}}')).toBe('Ada');
      expect(render('{{first_name}}', { fields: {}, variables: { first_name: 'Shadowed' } })).toBe('');
    });

    it('reads payload from the view when it carries one, else a variable named payload', () => {
      const payload = { customer: { name: 'Bo' }, lines: [{ total: 9.5 }] };
      const withPayload: TemplateView = { ...view, variables: { payload: 'variable' }, payload };
      expect(render('{{payload.customer.name}} {{payload.lines[0].total}}', withPayload)).toBe('Bo 9.5');
      expect(render('{{payload.customer.name}}|{{payload}}', { ...view, variables: { payload: 'variable' } })).toBe('|variable');
      expect(render('{{payload.customer.name}}', { ...withPayload, payload: null })).toBe('');
    });

    it('lists the distinct first names it reads, in order of first use', () => {
      expect(compiled('{{order.id}} {{first_name}} {{order.items[0]}} {{payload.a}} \\{\\{tier}}').fields).toEqual(['order', 'first_name', 'payload']);
      expect(compiled('plain').fields).toEqual([]);
    });

    it('renders many times from one compile, each view on its own', () => {
      const template = compiled('Hi {{first_name}} ({{tier}})');
      expect(template.render(view)).toBe('Hi Ada (gold)');
      expect(template.render({ fields: { first_name: 'Bo' }, variables: { tier: 'silver' } })).toBe('Hi Bo (silver)');
      expect(template.render(view)).toBe('Hi Ada (gold)');
    });
  });

  describe('missing values render empty', () => {
    it.each([
      ['an absent variable', '[{{unknown}}]'],
      ['an absent system field', '[{{user_name}}]'],
      ['a NULL system field', '[{{last_name}}]'],
      ['a JSON null', '[{{nothing}}]'],
      ['a null inside an object', '[{{order.note}}]'],
      ['an index out of range', '[{{tags[3]}}]'],
      ['a huge index', '[{{tags[99999999999999999999]}}]'],
      ['a name on an array', '[{{tags.first}}]'],
      ['an index on an object', '[{{order[0]}}]'],
      ['an index on a string', '[{{tier[0]}}]'],
      ['a step through a string', '[{{tier.value}}]'],
      ['a step through a number', '[{{visits.value}}]'],
      ['a step through null', '[{{nothing.value}}]'],
      ['a step through a missing value', '[{{unknown.a.b[0]}}]'],
      ['payload when the view has none and no such variable', '[{{payload.a}}]'],
    ])('%s', (_case, source) => {
      expect(render(source)).toBe('[]');
    });

    it('reads a hole of a sparse array as missing', () => {
      // eslint-disable-next-line no-sparse-arrays -- the hole is the case under test
      expect(render('[{{list[1]}}]', { fields: {}, variables: { list: ['a', , 'c'] } })).toBe('[]');
    });
  });

  describe('no prototype access', () => {
    it.each([
      '{{constructor}}',
      '{{__proto__}}',
      '{{toString}}',
      '{{hasOwnProperty}}',
      '{{order.constructor}}',
      '{{order.constructor.name}}',
      '{{order.__proto__}}',
      '{{order.toString}}',
      '{{order.valueOf}}',
      '{{tier.length}}',
      '{{tier.constructor}}',
      '{{tags.length}}',
      '{{tags.constructor}}',
      '{{tags.map}}',
      '{{first_name.length}}',
      '{{payload.constructor}}',
      '{{payload.__proto__.polluted}}',
    ])('%s renders empty', (source) => {
      expect(render(`[${source}]`, { ...view, payload: { a: 1 } })).toBe('[]');
    });

    it('looks only at own properties of the fields and variables records too', () => {
      const inherited = Object.create({ tier: 'inherited', first_name: 'Inherited' }) as Record<string, string>;
      expect(render('[{{tier}}][{{first_name}}]', { fields: inherited, variables: inherited })).toBe('[][]');
    });

    it('never runs a getter of the view', () => {
      let calls = 0;
      const variables = Object.defineProperty({}, 'secret', { enumerable: true, get: () => `ran ${++calls}` });
      expect(render('[{{secret}}]', { fields: {}, variables })).toBe('[]');
      expect(calls).toBe(0);
    });

    it('renders an own __proto__ key of parsed JSON as the data it is', () => {
      const variables = JSON.parse('{"data": {"__proto__": "own value"}}') as Record<string, unknown>;
      expect(render('{{data.__proto__}}', { fields: {}, variables })).toBe('own value');
    });
  });

  describe('text is left as it is', () => {
    it('does not HTML-escape values or text', () => {
      expect(render('<b>{{note}}</b> & "\'', { fields: {}, variables: { note: '<i>a & b</i> "q"' } })).toBe('<b><i>a & b</i> "q"</b> & "\'');
    });

    it('does not interpret placeholder syntax inside values', () => {
      expect(render('{{x}}', { fields: {}, variables: { x: '{{first_name}} \\{\\{' } })).toBe('{{first_name}} \\{\\{');
    });

    it('keeps unicode text and values intact', () => {
      const source = 'Ciao {{first_name}} 👋 — café 日本語 {{city}} ✓';
      expect(render(source, { fields: { first_name: 'Zoë' }, variables: { city: 'Zürich 🇨🇭' } })).toBe('Ciao Zoë 👋 — café 日本語 Zürich 🇨🇭 ✓');
    });

    it.each([
      ['\\{\\{first_name}}', '{{first_name}}'],
      ['a \\{\\{ b', 'a {{ b'],
      ['\\{\\{{{first_name}}}}', '{{Ada}}'],
      ['\\{\\{\\{\\{', '{{{{'],
      ['\\{{first_name}}', '\\Ada'],
      ['C:\\Users\\{{first_name}}', 'C:\\Users\\Ada'],
      ['\\\\{\\{x', '\\{{x'],
      ['a \\n \\} b', 'a \\n \\} b'],
      ['}} and } and { alone', '}} and } and { alone'],
      ['{{first_name}}}}', 'Ada}}'],
      ['{ {first_name} }', '{ {first_name} }'],
    ])('%j → %j (only \\{\\{ is an escape)', (source, expected) => {
      expect(render(source)).toBe(expected);
    });
  });

  it('compiles and renders a 4,096-character template', () => {
    const unit = 'Hi {{first_name}}, item {{order.items[0].sku}} \\{\\{ok}} ✓ ';
    const whole = Math.floor(4096 / unit.length);
    const source = unit.repeat(whole) + 'x'.repeat(4096 - whole * unit.length);
    expect(source).toHaveLength(4096);
    const template = compiled(source);
    expect(template.fields).toEqual(['first_name', 'order']);
    expect(template.render(view)).toBe('Hi Ada, item X1 {{ok}} ✓ '.repeat(whole) + 'x'.repeat(4096 - whole * unit.length));
  });

  describe('compile errors name the position where the problem starts', () => {
    it.each([
      ['Hello there {{first_name', 12, 'unclosed {{'],
      ['{{', 0, 'unclosed {{'],
      ['ok {{a}} then {{b', 14, 'unclosed {{'],
      ['a } {{ }', 4, 'unclosed {{'],
      ['x{{}}', 1, 'empty {{ }}'],
      ['x {{   }}', 2, 'empty {{ }}'],
      ['{{first name}}', 8, 'unexpected "n": a path is names joined by "." and "[index]"'],
      ['{{a..b}}', 4, 'expected a name after "."'],
      ['{{a.}}', 4, 'expected a name after "."'],
      ['{{a.1b}}', 4, 'expected a name after "."'],
      ['{{a[x]}}', 4, 'expected an index (digits) after "["'],
      ['{{a[}}', 4, 'expected an index (digits) after "["'],
      ['{{a[-1]}}', 4, 'expected an index (digits) after "["'],
      ['{{a[1.5]}}', 5, 'expected "]"'],
      ['{{a[0}}', 5, 'expected "]"'],
      ['{{1abc}}', 2, 'expected a name (a letter or _, then letters, digits or _), found "1"'],
      ['{{ [0] }}', 3, 'expected a name (a letter or _, then letters, digits or _), found "["'],
      ['{{{first_name}}}', 2, 'expected a name (a letter or _, then letters, digits or _), found "{"'],
      ['{{a-b}}', 3, 'unexpected "-": a path is names joined by "." and "[index]"'],
      ['{{ a .b }}', 5, 'unexpected ".": a path is names joined by "." and "[index]"'],
      ['{{a {{b}}', 4, 'unexpected "{": a path is names joined by "." and "[index]"'],
      ['{{prénom}}', 4, 'unexpected "é": a path is names joined by "." and "[index]"'],
      ['{{a.b(c)}}', 5, 'unexpected "(": a path is names joined by "." and "[index]"'],
    ])('%j → position %d: %s', (source, position, message) => {
      expect(errorOf(source)).toEqual({ position, message });
    });

    it('counts the position in UTF-16 units, as JavaScript strings index', () => {
      expect(errorOf('👋 Ciao {{first name}}').position).toBe('👋 Ciao {{first '.length);
      expect('👋 Ciao {{first '.length).toBe(16);
    });

    it('reports the first problem of several', () => {
      expect(errorOf('{{a b}} {{}} {{c')).toEqual({ position: 4, message: 'unexpected "b": a path is names joined by "." and "[index]"' });
    });

    it('is not fooled by an escaped opener before a real error', () => {
      expect(errorOf('\\{\\{ ok }} {{ bad name }}')).toEqual({ position: 18, message: 'unexpected "n": a path is names joined by "." and "[index]"' });
    });
  });
});
