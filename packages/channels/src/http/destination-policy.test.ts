import { checkDestinationUrl, createDestinationPolicy } from './destination-policy';

describe('checkDestinationUrl', () => {
  it.each([
    'https://api.telegram.org/bot123456:ABC-DEF/sendMessage',
    'http://example.com:8080/hook',
    'https://8.8.8.8/',
    'https://[2606:4700:4700::1111]/',
    // Just outside the denied ranges.
    'http://172.32.0.1/',
    'http://100.128.0.1/',
    'http://169.255.0.1/',
    'http://11.0.0.1/',
    'http://[64:ff9b::8.8.8.8]/',
    'http://[2002:808:808::]/',
    'http://[::ffff:8.8.8.8]/',
  ])('accepts %s', (url) => {
    expect(checkDestinationUrl(url, [])).toEqual({ ok: true });
  });

  it.each([
    ['http://127.0.0.1:6379/', '127.0.0.1 is a loopback address'],
    ['http://127.1.2.3/', '127.1.2.3 is a loopback address'],
    ['http://2130706433/', '127.0.0.1 is a loopback address'],
    ['http://0x7f000001/', '127.0.0.1 is a loopback address'],
    ['http://0177.0.0.1/', '127.0.0.1 is a loopback address'],
    ['http://[::1]:5432/', '::1 is a loopback address'],
    ['http://0.0.0.0/', '0.0.0.0 is an unspecified address'],
    ['http://[::]/', ':: is an unspecified address'],
    ['http://10.1.2.3/', '10.1.2.3 is a private address'],
    ['http://172.16.0.1/', '172.16.0.1 is a private address'],
    ['http://172.31.255.255/', '172.31.255.255 is a private address'],
    ['http://192.168.1.1/', '192.168.1.1 is a private address'],
    ['http://[fd12:3456::1]/', 'fd12:3456::1 is a private address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address (cloud metadata lives there)'],
    ['http://[fe80::1]/', 'fe80::1 is a link-local address (cloud metadata lives there)'],
    ['http://100.64.0.1/', '100.64.0.1 is a shared (CGNAT) address'],
    ['http://224.0.0.1/', '224.0.0.1 is a multicast address'],
    ['http://[ff02::1]/', 'ff02::1 is a multicast address'],
    ['http://255.255.255.255/', '255.255.255.255 is a reserved address'],
    ['http://[::127.0.0.1]/', '::7f00:1 is a reserved address'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1 is a loopback address'],
    ['http://[::ffff:7f00:1]/', '::ffff:7f00:1 is a loopback address'],
    ['http://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe is a link-local address (cloud metadata lives there)'],
    ['http://[64:ff9b::10.0.0.1]/', '64:ff9b::a00:1 is a private address (embedded 10.0.0.1)'],
    ['http://[2002:7f00:1::]/', '2002:7f00:1:: is a loopback address (embedded 127.0.0.1)'],
    ['http://localhost:8080/', 'localhost is a loopback hostname'],
    ['http://LOCALHOST./', 'localhost is a loopback hostname'],
    ['http://api.localhost/', 'api.localhost is a loopback hostname'],
    ['http://metadata/', 'metadata is a cloud metadata hostname'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal is a cloud metadata hostname'],
    ['http://metadata.google.internal./', 'metadata.google.internal is a cloud metadata hostname'],
    ['http://user:pw@example.com/', 'the URL carries credentials (user:password@host); send them in headers'],
    ['http://user@example.com/', 'the URL carries credentials (user:password@host); send them in headers'],
    ['http://:pw@example.com/', 'the URL carries credentials (user:password@host); send them in headers'],
    ['ftp://example.com/', 'scheme ftp: is not allowed (http and https only)'],
    ['file:///etc/passwd', 'scheme file: is not allowed (http and https only)'],
    ['not a url', 'not a valid URL'],
  ])('refuses %s', (url, reason) => {
    expect(checkDestinationUrl(url, [])).toEqual({ ok: false, reason });
  });

  it('never puts the path or query in the reason', () => {
    const result = checkDestinationUrl('http://127.0.0.1/bot123456:SECRET/sendMessage?access_token=TOKEN', []);
    expect(result).toEqual({ ok: false, reason: '127.0.0.1 is a loopback address' });
  });

  it('lets allowedDestinations override the deny list, for exactly what they match', () => {
    expect(checkDestinationUrl('http://127.0.0.1:1/', ['127.0.0.1'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://127.0.0.2:1/', ['127.0.0.1']).ok).toBe(false);
    expect(checkDestinationUrl('http://127.9.9.9/', ['127.0.0.0/8'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://[::ffff:127.0.0.1]/', ['127.0.0.0/8'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://[::1]/', ['::1'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://[fd00::5]/', ['fd00::/8'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://localhost/', ['LocalHost'])).toEqual({ ok: true });
    expect(checkDestinationUrl('http://localhost/', ['127.0.0.0/8']).ok).toBe(false);
    expect(checkDestinationUrl('http://metadata.google.internal/', ['169.254.0.0/16']).ok).toBe(false);
    // An allowed address never excuses a bad scheme or credentials.
    expect(checkDestinationUrl('http://u:p@127.0.0.1/', ['127.0.0.1']).ok).toBe(false);
    expect(checkDestinationUrl('ftp://127.0.0.1/', ['127.0.0.1']).ok).toBe(false);
  });

  it.each(['10.0.0.0/33', '::/129', '1.2.3.4/x', '1.2.3.4/8/8', 'not a host!', '', 'bad/8'])('rejects the allowed entry %j', (entry) => {
    expect(() => checkDestinationUrl('http://example.com/', [entry])).toThrow(/allowedDestinations/);
  });
});

describe('DestinationPolicy.checkAddress', () => {
  const policy = createDestinationPolicy(['receiver.corp', '192.168.7.0/24']);

  it('judges resolved addresses, IPv4-mapped ones as the IPv4 address they are', () => {
    expect(policy.checkAddress('93.184.215.14')).toEqual({ ok: true });
    expect(policy.checkAddress('::ffff:10.0.0.1')).toEqual({ ok: false, reason: '::ffff:10.0.0.1 is a private address' });
    expect(policy.checkAddress('192.168.7.20')).toEqual({ ok: true });
    expect(policy.checkAddress('::ffff:192.168.7.20')).toEqual({ ok: true });
    expect(policy.checkAddress('192.168.8.20').ok).toBe(false);
    expect(policy.checkAddress('fe80::1%eth0')).toEqual({
      ok: false,
      reason: 'fe80::1%eth0 is a link-local address (cloud metadata lives there)',
    });
    expect(policy.checkAddress('not-an-ip')).toEqual({ ok: false, reason: 'not-an-ip is not an IP address' });
  });

  it('allows every address of an allowed hostname', () => {
    expect(policy.checkAddress('10.0.0.5', 'receiver.corp')).toEqual({ ok: true });
    expect(policy.checkAddress('10.0.0.5', 'RECEIVER.corp.')).toEqual({ ok: true });
    expect(policy.checkAddress('10.0.0.5', 'other.corp').ok).toBe(false);
  });
});
