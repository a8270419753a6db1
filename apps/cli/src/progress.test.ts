import { ImportMeter, renderImport } from './import-meter';
import { bar, formatElapsed, formatEta, ProgressLine } from './progress';

/** A stream that records what is written, as a terminal or as a pipe would receive it. */
function recorder(tty: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY: tty, columns: 40, write: (text: string) => writes.push(text) }, writes };
}

describe('progress line', () => {
  it('on a terminal redraws one line in place with \\r, cut to the width, and ends it once', () => {
    let now = 0;
    const { stream, writes } = recorder(true);
    const line = new ProgressLine(stream, { enabled: true, now: () => now });
    line.update(() => 'first');
    now = 50;
    line.update(() => 'too soon'); // within 100 ms: not drawn
    now = 150;
    line.update(() => 'x'.repeat(60));
    now = 300;
    line.update(() => `${'a'.repeat(20)}  ${'b'.repeat(15)}  ${'c'.repeat(10)}`); // whole fields drop off
    line.finish(() => 'done');
    expect(writes).toEqual(['\rfirst\x1b[K', `\r${'x'.repeat(39)}\x1b[K`, `\r${'a'.repeat(20)}  ${'b'.repeat(15)}\x1b[K`, '\rdone\x1b[K', '\n']);
    line.break(); // already ended: nothing more
    expect(writes).toHaveLength(5);
  });

  it('in a log prints whole lines at most once per interval, never the same line twice, and always the final one', () => {
    let now = 0;
    const { stream, writes } = recorder(false);
    const line = new ProgressLine(stream, { enabled: true, logIntervalMs: 1_000, now: () => now });
    for (let i = 0; i <= 25; i++) {
      now = i * 100;
      line.update(() => `at ${now}`);
    }
    now = 2_600;
    line.finish(() => 'final');
    expect(writes).toEqual(['at 0\n', 'at 1000\n', 'at 2000\n', 'final\n']);
    const unchanged = recorder(false);
    const still = new ProgressLine(unchanged.stream, { enabled: true, logIntervalMs: 0, now: () => 0 });
    still.update(() => 'same');
    still.update(() => 'same');
    expect(unchanged.writes).toEqual(['same\n']);
  });

  it('is silent when disabled (--quiet)', () => {
    const { stream, writes } = recorder(true);
    const line = new ProgressLine(stream, { enabled: false });
    line.update(() => 'x');
    line.finish(() => 'y');
    expect(writes).toEqual([]);
  });

  it('formats bars, times left and times taken', () => {
    expect(bar(0.5, 10)).toBe('[#####.....]');
    expect(bar(1.7, 4)).toBe('[####]');
    expect([formatEta(0.2), formatEta(59), formatEta(185), formatEta(3_720), formatEta(Number.NaN)]).toEqual(['1s', '59s', '3m05s', '1h02m', '--']);
    expect([formatElapsed(400), formatElapsed(19_240), formatElapsed(62_310), formatElapsed(185_000)]).toEqual(['0.4 s', '19.2 s', '1m02s', '3m05s']);
  });
});

describe('import meter', () => {
  it('counts rows from the newlines sent, a last line without one once all is sent, less a CSV header', () => {
    const meter = new ImportMeter({ totalBytes: 30, headerLines: 1, startedAt: 0 });
    meter.add(Buffer.from('id,name\n1,a\n2,'));
    expect(meter.snapshot(1_000)).toMatchObject({ bytes: 14, rows: 1, rowsPerSecond: 1 });
    meter.add(Buffer.from('b\n3,c'));
    expect(meter.snapshot(2_000).rows).toBe(2);
    expect(meter.snapshot(2_000, true).rows).toBe(3);
  });

  it('estimates the time left from the bytes left at the rate so far', () => {
    const meter = new ImportMeter({ totalBytes: 1_000, headerLines: 0, startedAt: 0 });
    meter.add(Buffer.from(`${'x'.repeat(249)}\n`));
    expect(meter.snapshot(200).etaSeconds).toBeUndefined(); // too early to tell
    const s = meter.snapshot(1_000);
    expect(s.etaSeconds).toBeCloseTo(3, 5); // 750 bytes left at 250 bytes/s
    expect(renderImport(s, false)).toBe('import: 25%, 1 rows, 1 rows/s, 250 B of 1.0 kB, ETA 3s');
    expect(renderImport(s, true)).toBe('[#####...............]  25%  1 rows  1/s  250 B/1.0 kB  ETA 3s');
    const unknownSize = new ImportMeter({ totalBytes: undefined, headerLines: 0, startedAt: 0 });
    unknownSize.add(Buffer.from('a\nb\n'));
    expect(renderImport(unknownSize.snapshot(1_000), false)).toBe('import: 2 rows, 2 rows/s, 4 B sent');
  });
});
