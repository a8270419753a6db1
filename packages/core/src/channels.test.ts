import { CHANNEL_NAMES, isPhoneChannel, resolveChannel } from './channels';

describe('resolveChannel', () => {
  it.each([
    ['WhatsAppChannel', 'WhatsAppChannel'],
    ['whatsappchannel', 'WhatsAppChannel'],
    ['whatsapp', 'WhatsAppChannel'],
    [' SMS ', 'SMSChannel'],
    ['rcs', 'RCSChannel'],
    ['Telegram', 'TelegramChannel'],
    ['facebook', 'FacebookChannel'],
    ['messenger', 'FacebookChannel'],
    ['WEB', 'WebChannel'],
    ['customchannel', 'CustomChannel'],
  ])('%s → %s', (input, expected) => {
    expect(resolveChannel(input)).toBe(expected);
  });

  it.each(['', 'email', 'WhatsApp Channel', 'signal'])('rejects %j', (input) => {
    expect(resolveChannel(input)).toBeUndefined();
  });

  it('resolves every canonical name to itself', () => {
    for (const name of CHANNEL_NAMES) expect(resolveChannel(name)).toBe(name);
  });
});

describe('isPhoneChannel', () => {
  it('is true exactly for WhatsApp, SMS and RCS', () => {
    const phone = CHANNEL_NAMES.filter(isPhoneChannel);
    expect(phone).toEqual(['WhatsAppChannel', 'SMSChannel', 'RCSChannel']);
  });
});
