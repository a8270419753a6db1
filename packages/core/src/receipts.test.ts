import { applyReceipt, NO_RECEIPTS, optOutIntent, receiptStatus, type ReceiptEvent, type ReceiptState } from './receipts';

const at = (second: number) => new Date(Date.UTC(2026, 10, 27, 12, 0, second));
const delivered: ReceiptEvent = { kind: 'delivered', at: at(2) };
const read: ReceiptEvent = { kind: 'read', at: at(5) };
const failed: ReceiptEvent = { kind: 'failed', at: at(3), code: '131026', message: 'Message undeliverable' };

const replay = (events: readonly ReceiptEvent[]): ReceiptState => events.reduce(applyReceipt, NO_RECEIPTS);

/** Every distinct order of a multiset of events, by index into `kinds` and how many of each. */
function orders(counts: readonly number[]): number[][] {
  if (counts.every((n) => n === 0)) return [[]];
  return counts.flatMap((n, kind) => (n === 0 ? [] : orders(counts.map((m, i) => (i === kind ? m - 1 : m))).map((rest) => [kind, ...rest])));
}

describe('applyReceipt', () => {
  it('moves sent → delivered → read', () => {
    expect(receiptStatus(NO_RECEIPTS)).toBe('sent');
    expect(receiptStatus(replay([delivered]))).toBe('delivered');
    expect(replay([delivered, read])).toEqual({ deliveredAt: at(2), readAt: at(5), failure: null });
  });

  it('takes a read before its delivered as both, and keeps the earlier delivery time that comes after', () => {
    expect(replay([read])).toEqual({ deliveredAt: at(5), readAt: at(5), failure: null });
    expect(replay([read, delivered])).toEqual({ deliveredAt: at(2), readAt: at(5), failure: null });
  });

  it('records a failure after sent, with the provider code, and lets a later proof of arrival win', () => {
    expect(replay([failed])).toEqual({ deliveredAt: null, readAt: null, failure: { at: at(3), code: '131026', message: 'Message undeliverable' } });
    expect(receiptStatus(replay([failed]))).toBe('failed');
    expect(receiptStatus(replay([failed, delivered]))).toBe('delivered');
    // The earliest failure is the one kept, whichever came first.
    const earlier: ReceiptEvent = { kind: 'failed', at: at(1), code: '131047', message: 'Re-engagement message' };
    expect(replay([failed, earlier]).failure?.code).toBe('131047');
    expect(replay([earlier, failed]).failure?.code).toBe('131047');
  });

  it('gives the same state for every order of the same events, each repeated three times', () => {
    const kinds = [delivered, read, failed];
    const expected = replay(kinds);
    expect(receiptStatus(expected)).toBe('read');
    const all = orders([3, 3, 3]); // 9! / (3!·3!·3!) = 1,680 orders
    expect(all).toHaveLength(1_680);
    for (const order of all) expect(replay(order.map((kind) => kinds[kind]!))).toEqual(expected);
  });

  it('changes nothing on a repeat', () => {
    for (const event of [delivered, read, failed]) {
      const once = replay([event]);
      expect(applyReceipt(once, event)).toEqual(once);
    }
  });
});

describe('optOutIntent', () => {
  it.each(['STOP', 'stop', ' Stop ', 'STOP.', 'unsubscribe', 'Cancel', 'END', 'quit', 'STOPALL', 'optout', 'revoke'])('%j opts out', (text) => {
    expect(optOutIntent(text)).toBe('opt_out');
  });
  it.each(['START', 'start!', 'Unstop', 'yes'])('%j opts back in', (text) => {
    expect(optOutIntent(text)).toBe('opt_in');
  });
  it.each(["please don't stop", 'stop it', 'STOP STOP', '', 'stopped', 'the end'])('%j is neither', (text) => {
    expect(optOutIntent(text)).toBeUndefined();
  });
});
