import { isJsonBodyType, mediaType } from './json-body';

describe('isJsonBodyType', () => {
  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'application/merge-patch+json',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
    undefined,
  ])('reads %p as JSON', (type) => expect(isJsonBodyType(type)).toBe(true));

  it.each(['application/xml', 'multipart/form-data; boundary=x', 'text/csv', 'application/x-ndjson'])('refuses %p', (type) => {
    expect(isJsonBodyType(type)).toBe(false);
  });

  it('names the media type without its parameters', () => {
    expect(mediaType('text/plain; charset=utf-8')).toBe('text/plain');
    expect(mediaType(undefined)).toBe('no Content-Type');
  });
});
