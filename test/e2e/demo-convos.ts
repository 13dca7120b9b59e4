/** What the bsky.app replica shows as the titles of the demo conversations (test/net/demo.ts). */
export const DEMO_CONVO_TITLES = {
  /** alice + bob: each sees the other's name; the replica shows one title for both. */
  direct: 'Bob',
  /** alice + bob + carol */
  group: 'Demo group',
} as const;
