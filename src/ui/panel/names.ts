import type { MemberView, MessageView } from '../../rpc/methods';

export function memberName(member: MemberView): string {
  return member.displayName?.trim() || (member.handle ? `@${member.handle}` : member.did);
}

/** The sender as MLS authenticated them, named from the member list (never from the message). */
export function senderName(message: MessageView, members: readonly MemberView[]): string {
  if (message.own) return 'You';
  const member = members.find((m) => m.did === message.senderDid);
  return member ? memberName(member) : message.senderDid;
}

/** The device record's key: enough to tell a member's devices apart at a glance. */
export function deviceLabel(uri: string): string {
  return uri.slice(uri.lastIndexOf('/') + 1) || uri;
}
