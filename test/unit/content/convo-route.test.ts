import { describe, expect, it } from 'vitest';
import { assertConvoId, convoIdFromPath, isConvoId } from '../../../src/content/convo-route';
import { isAtmError } from '../../../src/errors';

describe('convoIdFromPath', () => {
  it('reads the conversation of bsky.app routes', () => {
    expect(convoIdFromPath('/messages/3l4kxhhqmzy2b')).toBe('3l4kxhhqmzy2b');
    expect(convoIdFromPath('/messages/3l4kxhhqmzy2b/')).toBe('3l4kxhhqmzy2b');
  });

  it('ignores the inbox, settings and other screens', () => {
    for (const path of ['/', '/messages', '/messages/', '/messages/settings', '/profile/alice.test', '/messages/a/b']) {
      expect(convoIdFromPath(path)).toBeUndefined();
    }
  });

  it('refuses ids outside the safe alphabet', () => {
    expect(convoIdFromPath('/messages/%3Cscript%3E')).toBeUndefined();
    expect(convoIdFromPath('/messages/%E0%A4%A')).toBeUndefined(); // malformed escape
    expect(convoIdFromPath(`/messages/${'a'.repeat(129)}`)).toBeUndefined();
  });
});

describe('assertConvoId', () => {
  it('passes valid ids through and throws a typed error otherwise', () => {
    expect(assertConvoId('abc-123')).toBe('abc-123');
    expect(isConvoId('')).toBe(false);
    for (const bad of ['', 'a b', 'a/b', 42, null, undefined, {}]) {
      let caught: unknown;
      try {
        assertConvoId(bad);
      } catch (error) {
        caught = error;
      }
      expect(isAtmError(caught, 'InvalidConvoId')).toBe(true);
    }
  });
});
