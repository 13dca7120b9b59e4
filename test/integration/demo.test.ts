import { describe, expect, inject, it } from 'vitest';
import { signIn, uniqueName } from '../net/accounts';
import { CHAT_SERVICE_ID } from '../net/chat-constants';
import { seedDemo } from '../net/demo';
import { attachNetwork } from '../net/remote';

const net = attachNetwork(inject('network'));

describe('seedDemo', () => {
  it('creates alice, bob, carol with a direct convo and a group, visible to the members', async () => {
    // The shared network may be seeded by other files too: a suffix keeps handles unique.
    const suffix = uniqueName('x').slice(1);
    const seed = await seedDemo(net, { suffix });
    expect(seed.alice.handle).toBe(`alice${suffix}.test`);

    // One login each, in parallel: a PDS login takes at least 350 ms.
    const [bob, carol] = await Promise.all([signIn(net.pdsUrl, seed.bob), signIn(net.pdsUrl, seed.carol)]);
    const bobChat = bob.withProxy(CHAT_SERVICE_ID, net.chat.did);
    const carolChat = carol.withProxy(CHAT_SERVICE_ID, net.chat.did);
    const listed = await bobChat.chat.bsky.convo.listConvos({});
    expect(new Set(listed.data.convos.map((c) => c.id))).toEqual(new Set([seed.directConvoId, seed.groupConvoId]));
    // New convos wait in bob's request inbox until he accepts or replies.
    expect(listed.data.convos.every((c) => c.status === 'request')).toBe(true);

    const group = await bobChat.chat.bsky.convo.getConvo({ convoId: seed.groupConvoId });
    expect(group.data.convo.kind).toMatchObject({
      $type: 'chat.bsky.convo.defs#groupConvo',
      name: 'Demo group',
      memberCount: 3,
    });
    expect(group.data.convo.members.map((m) => [m.did, m.displayName])).toEqual([
      [seed.alice.did, 'Alice'],
      [seed.bob.did, 'Bob'],
      [seed.carol.did, 'Carol'],
    ]);

    await expect(carolChat.chat.bsky.convo.getConvo({ convoId: seed.directConvoId })).rejects.toMatchObject({
      status: 403,
      error: 'InvalidConvo',
    });
    const accepted = await carolChat.chat.bsky.convo.acceptConvo({ convoId: seed.groupConvoId });
    expect(accepted.data.rev).toBeTypeOf('string');
    expect((await carolChat.chat.bsky.convo.acceptConvo({ convoId: seed.groupConvoId })).data.rev).toBeUndefined();
  });
});
