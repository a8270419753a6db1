import { escapeHtml, formatDuration, html, markup } from './html';
import { MAX_BUCKETS, pickBucketSeconds, widthLabel } from './outcome-chart';
import { barGeometry, progressLabel } from './progress-bar';

describe('html', () => {
  it('escapes every interpolated value, in text and in attributes, but not nested html', () => {
    const name = `<img src=x onerror="alert('x')"> & co`;
    const page = html`<a title="${name}">${name}</a>${html`<b>${1}</b>`}${[name, null, undefined]}`;
    expect(markup(page)).toBe(
      '<a title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co</a>' +
        '<b>1</b>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co',
    );
    expect(escapeHtml(`"'<>&`)).toBe('&quot;&#39;&lt;&gt;&amp;');
  });

  it('formats durations at a readable precision', () => {
    expect([120, 5_240, 64_000, 3_725_000, 90_000_000].map(formatDuration)).toEqual(['120 ms', '5.2 s', '1 min 4 s', '1 h 2 min', '1 d 1 h']);
  });
});

describe('chart buckets', () => {
  it('picks the narrowest round width that fits the span in at most MAX_BUCKETS bars', () => {
    expect(pickBucketSeconds(0)).toBe(1);
    expect(pickBucketSeconds(60_000)).toBe(1);
    expect(pickBucketSeconds(61_000)).toBe(2);
    expect(pickBucketSeconds(600_000)).toBe(10);
    expect(pickBucketSeconds(601_000)).toBe(15);
    expect(pickBucketSeconds(86_400_000)).toBe(1_800);
    const year = 365 * 86_400_000;
    expect(year / 1_000 / pickBucketSeconds(year)).toBeLessThanOrEqual(MAX_BUCKETS);
    expect([5, 900, 21_600, 172_800].map(widthLabel)).toEqual(['5 s', '15 min', '6 h', '2 d']);
  });
});

describe('progress bar', () => {
  it('lays sent, failed and skipped side by side as shares of targeted, never past the track', () => {
    expect(barGeometry({ targeted: 3, sent: 1, failed: 1, skipped: 0 })).toEqual({
      sent: { x: 0, width: 33.33 },
      failed: { x: 33.33, width: 33.33 },
      skipped: { x: 66.67, width: 0 },
    });
    // Counts past targeted (a recount racing the counters) still fit in the bar.
    expect(barGeometry({ targeted: 2, sent: 2, failed: 1, skipped: 1 })).toEqual({
      sent: { x: 0, width: 100 },
      failed: { x: 100, width: 0 },
      skipped: { x: 100, width: 0 },
    });
    expect(barGeometry({ targeted: 0, sent: 0, failed: 0, skipped: 0 }).sent.width).toBe(0);
    expect(progressLabel({ targeted: 3, sent: 1, failed: 1, skipped: 0 })).toBe('2 of 3 done (66 %)');
    expect(progressLabel({ targeted: 0, sent: 0, failed: 0, skipped: 0 })).toBe('0 done, none targeted yet');
  });
});
