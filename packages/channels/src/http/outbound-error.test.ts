import { classifyOutboundError, OutboundError } from './outbound-error';

describe('classifyOutboundError', () => {
  it.each([
    ['refused', { outcome: 'connection_fault', code: 'destination_refused', message: 'm' }],
    ['redirect', { outcome: 'connection_fault', code: 'redirect_refused', message: 'm' }],
    ['timeout', { outcome: 'retry', code: 'timeout', message: 'm' }],
    ['network', { outcome: 'retry', code: 'network', message: 'm' }],
  ] as const)('maps kind %s', (kind, result) => {
    expect(classifyOutboundError(new OutboundError(kind, 'm'))).toEqual(result);
  });

  it('retries anything else as a network fault, its message redacted', () => {
    expect(classifyOutboundError(new Error('boom at https://api.telegram.org/bot1:SECRET/getMe?x=1'))).toEqual({
      outcome: 'retry',
      code: 'network',
      message: 'boom at https://api.telegram.org/bot<redacted>/getMe',
    });
    expect(classifyOutboundError('plain')).toEqual({ outcome: 'retry', code: 'network', message: 'plain' });
  });
});
