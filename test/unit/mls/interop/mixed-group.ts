/**
 * A mixed group: members of our implementation (OursMember, src/mls's API) and of OpenMLS
 * (OpenMlsMember, core-crypto 9.3.4) commit adds, removes and self-updates, and ours also
 * changeMembers (removes and adds in one commit); joiners of either side join through the
 * committer's Welcome, whichever side made it. After every commit, MixedGroup checks that all
 * members agree on the epoch, the exporter secret and the member list, that every application
 * message sent decrypts for every other member (to the same plaintext, from the right sender),
 * and that the members the commit removed decrypt none of the new epoch's messages; our members
 * also report who committed, whom it added and whom it removed, which must be what was done.
 * The first disagreement throws an InteropFailure naming the run, epoch, operation, committer
 * and failing member, with the history of the run.
 *
 * Every group is created by a member of ours: a conversation core-crypto creates requires
 * support for x509 credentials (required_capabilities), which src/mls's KeyPackages do not list
 * (README.md; pinned in the test file).
 *
 * runMixedGroup drives one from a seed: the seed fixes every choice (who commits, what, whom,
 * which side joins, who sends). The key material both libraries draw is random, so a seed
 * replays the same sequence of operations, not the same bytes.
 */
import { contextFor } from '../helpers';
import { interopIdentity, InteropRegistry, type Implementation } from './identities';
import { DecryptFailure, describeError, type CommitOutput, type CommitSeen, type Decrypted, type GroupMember } from './member';
import { OpenMlsMember } from './openmls-member';
import { OursMember } from './ours-member';
import { mulberry32 } from '../../../fuzz/lib/prng';

export type Operation = 'create' | 'add' | 'remove' | 'update' | 'change';

export class InteropFailure extends Error {
  override name = 'InteropFailure';
  /** Every step of the run up to the failing one, for replaying it by hand. */
  history: string[] = [];
}


/** Creates members of either implementation with identities numbered in creation order (O7, T8, …). */
export class MemberFactory {
  readonly registry = new InteropRegistry();
  private count = 0;
  // A live clock: core-crypto dates its KeyPackages by the real time, and src/mls checks them by ctx.clock.
  private readonly ctx = contextFor(this.registry.auth, { now: () => Date.now() });

  async create(implementation: 'ours'): Promise<OursMember>;
  async create(implementation: Implementation): Promise<GroupMember>;
  async create(implementation: Implementation): Promise<GroupMember> {
    const n = ++this.count;
    const id = interopIdentity(n);
    if (implementation === 'openmls') return OpenMlsMember.create(`O${n}`, id, this.registry);
    return OursMember.create(await this.ctx, `T${n}`, id, this.registry);
  }
}

export interface Stats {
  epochs: number;
  commitsBy: Record<Implementation, number>;
  /** changeMembers commits (ours only): removes and adds in one commit. */
  changes: number;
  joins: Record<`${Implementation} from ${Implementation}`, number>;
  removals: number;
  messages: number;
  decryptions: number;
  maxSize: number;
}

interface Step {
  epoch: number;
  operation: Operation;
  committer: GroupMember;
  detail: string;
}

const label = (m: GroupMember) => `${m.name} (${m.implementation})`;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const utf8 = new TextEncoder();
const text = new TextDecoder();
const sameSet = (a: readonly string[], b: readonly string[]) => [...a].sort().join('\n') === [...b].sort().join('\n');

export interface MixedGroupOptions {
  /** Names the run in failures: "seed 17" or a test's name. */
  run: string;
  /** Application messages per epoch: 'all' members send one each, or this many senders (one per side first). */
  senders?: 'all' | number;
  /** Picks senders when not all send; the first ones by default. */
  pick?: <T>(items: readonly T[]) => T;
}

export class MixedGroup {
  readonly members: GroupMember[] = [];
  readonly history: string[] = [];
  readonly stats: Stats = {
    epochs: 0,
    commitsBy: { ours: 0, openmls: 0 },
    changes: 0,
    joins: { 'ours from ours': 0, 'ours from openmls': 0, 'openmls from ours': 0, 'openmls from openmls': 0 },
    removals: 0,
    messages: 0,
    decryptions: 0,
    maxSize: 1,
  };
  private epoch = 0;

  private constructor(
    private readonly options: MixedGroupOptions,
    private readonly factory: MemberFactory,
  ) {}

  /** A one-member group at epoch 0, made by a new member of ours (see the file comment). */
  static async create(options: MixedGroupOptions, groupId?: Uint8Array): Promise<MixedGroup> {
    const factory = new MemberFactory();
    const group = new MixedGroup(options, factory);
    const creator = await factory.create('ours');
    group.history.push(`epoch 0: ${label(creator)} creates the group`);
    const step: Step = { epoch: 0, operation: 'create', committer: creator, detail: '' };
    await group.attempt(step, creator, 'failed to create the group', async () => {
      await creator.keyPackage();
      await creator.createGroup(groupId ?? crypto.getRandomValues(new Uint8Array(32)));
    });
    group.members.push(creator);
    return group;
  }

  /** A new member (same registry, next number) that is not in the group: for tests that drive it by hand. */
  newMember(implementation: 'ours'): Promise<OursMember>;
  newMember(implementation: Implementation): Promise<GroupMember>;
  newMember(implementation: Implementation): Promise<GroupMember> {
    return this.factory.create(implementation);
  }

  /** `committer` adds new members of the given sides; they join from its Welcome. Returns them. */
  async add(committer: GroupMember, sides: Implementation[]): Promise<GroupMember[]> {
    const joiners: GroupMember[] = [];
    for (const side of sides) joiners.push(await this.factory.create(side));
    const step = this.step('add', committer, `of ${joiners.map(label).join(', ')}`);
    const keyPackages = await this.keyPackages(step, joiners);
    const output = await this.attempt(step, committer, 'failed to commit', () => committer.add(keyPackages));
    await this.apply(step, output, [], joiners);
    return joiners;
  }

  async remove(committer: GroupMember, removed: GroupMember[]): Promise<void> {
    const step = this.step('remove', committer, `of ${removed.map(label).join(', ')}`);
    const output = await this.attempt(step, committer, 'failed to commit', () => committer.remove(removed.map((r) => r.id.identity)));
    await this.apply(step, output, removed, []);
  }

  /**
   * One changeMembers commit of ours removing `removed` and adding `count` new members of ours
   * (its Welcome cannot be given the tree for OpenMLS joiners: welcome-with-tree.ts).
   */
  async change(committer: GroupMember, removed: GroupMember[], count: number): Promise<GroupMember[]> {
    if (!(committer instanceof OursMember)) throw new Error('change: only our members make changeMembers commits');
    const joiners: GroupMember[] = [];
    for (let i = 0; i < count; i++) joiners.push(await this.factory.create('ours'));
    const step = this.step('change', committer, `removing ${removed.map(label).join(', ')}, adding ${joiners.map(label).join(', ')}`);
    const keyPackages = await this.keyPackages(step, joiners);
    const output = await this.attempt(step, committer, 'failed to commit', () =>
      committer.change(keyPackages, removed.map((r) => r.id.identity)),
    );
    this.stats.changes++;
    await this.apply(step, output, removed, joiners);
    return joiners;
  }

  async update(committer: GroupMember): Promise<void> {
    const step = this.step('update', committer, '');
    const output = await this.attempt(step, committer, 'failed to commit', () => committer.update());
    await this.apply(step, output, [], []);
  }

  async dispose(): Promise<void> {
    for (const m of this.members) await m.dispose();
  }

  private step(operation: Operation, committer: GroupMember, detail: string): Step {
    const step = { epoch: this.epoch + 1, operation, committer, detail };
    this.history.push(`epoch ${step.epoch}: ${label(committer)} ${operation}${detail ? ` ${detail}` : ''} [members ${this.members.map((m) => m.name).join(' ')}]`);
    return step;
  }

  private async keyPackages(step: Step, joiners: GroupMember[]): Promise<Uint8Array[]> {
    const keyPackages: Uint8Array[] = [];
    for (const j of joiners) keyPackages.push(await this.attempt(step, j, 'failed to make a KeyPackage', () => j.keyPackage()));
    return keyPackages;
  }

  private async apply(step: Step, output: CommitOutput, removed: GroupMember[], joiners: GroupMember[]): Promise<void> {
    this.epoch = step.epoch;
    this.stats.commitsBy[step.committer.implementation]++;
    // Every other member processes the commit, the removed ones included (that is how they learn of it).
    for (const member of this.members) {
      if (member === step.committer) continue;
      const seen = await this.attempt(step, member, 'failed to process the commit', () => member.processCommit(output.commit));
      if (seen !== undefined) this.checkSeen(step, member, seen, removed, joiners);
    }
    for (const r of removed) {
      if (r.active) throw this.failure(step, r, 'is still active after the commit that removed it');
      this.members.splice(this.members.indexOf(r), 1);
    }
    this.stats.removals += removed.length;
    for (const j of joiners) {
      if (output.welcome === undefined) throw this.failure(step, step.committer, 'made no Welcome for an add');
      await this.attempt(step, j, `failed to join from the Welcome of ${label(step.committer)}`, () => j.join(output));
      this.stats.joins[`${j.implementation} from ${step.committer.implementation}`]++;
      this.members.push(j);
    }
    this.stats.maxSize = Math.max(this.stats.maxSize, this.members.length);
    try {
      await this.checkAgreement(step);
      await this.exchangeMessages(step, removed);
    } finally {
      for (const r of removed) await r.dispose();
    }
    this.stats.epochs = step.epoch;
  }

  /** What src/mls's processCommit reports: the committer, and whom the commit added and removed. */
  private checkSeen(step: Step, member: GroupMember, seen: CommitSeen, removed: GroupMember[], joiners: GroupMember[]): void {
    const expectedRemoved = removed.map((r) => r.id.identity);
    if (seen.committer !== step.committer.id.identity) throw this.failure(step, member, `reports committer ${seen.committer}`);
    if (!sameSet(seen.removed, expectedRemoved)) throw this.failure(step, member, `reports removed [${seen.removed.join(', ')}]`);
    if (seen.removedSelf !== removed.includes(member)) throw this.failure(step, member, `reports removedSelf ${seen.removedSelf}`);
    // A removed member stops at its removal and does not look at the Adds.
    if (!seen.removedSelf && !sameSet(seen.added, joiners.map((j) => j.id.identity))) {
      throw this.failure(step, member, `reports added [${seen.added.join(', ')}]`);
    }
  }

  /** Same epoch, exporter secret and member list (by credential identity) at every member. */
  private async checkAgreement(step: Step): Promise<void> {
    const expected = this.members.map((m) => m.id.identity).sort();
    const reference = this.members[0]!;
    let referenceSecret: string | undefined;
    for (const member of this.members) {
      const view = await this.attempt(step, member, 'failed to read its epoch, exporter secret and members', () => member.view());
      if (view.epoch !== BigInt(step.epoch)) throw this.failure(step, member, `is at epoch ${view.epoch}, not ${step.epoch}`);
      const secret = hex(view.exporterSecret);
      referenceSecret ??= secret;
      if (secret !== referenceSecret) {
        throw this.failure(step, member, `exports ${secret.slice(0, 16)}…, where ${label(reference)} exports ${referenceSecret.slice(0, 16)}…`);
      }
      const identities = [...view.members].sort();
      if (identities.join('\n') !== expected.join('\n')) {
        throw this.failure(step, member, `sees members [${identities.join(', ')}], expected [${expected.join(', ')}]`);
      }
    }
  }

  /**
   * The chosen senders each send one message; every other member must decrypt each to the same
   * plaintext from that sender, and every member this commit removed must fail to decrypt it.
   */
  private async exchangeMessages(step: Step, removed: GroupMember[]): Promise<void> {
    const senders = this.options.senders ?? 'all';
    const pick = this.options.pick ?? (<T>(items: readonly T[]) => items[0]!);
    let chosen: GroupMember[];
    if (senders === 'all' || senders >= this.members.length) chosen = this.members;
    else {
      // One of each side present first, so every epoch has cross-implementation traffic both ways.
      chosen = [];
      for (const side of ['ours', 'openmls'] as const) {
        const candidates = this.members.filter((m) => m.implementation === side);
        if (candidates.length && chosen.length < senders) chosen.push(pick(candidates));
      }
      while (chosen.length < senders) chosen.push(pick(this.members.filter((m) => !chosen.includes(m))));
    }
    const sent: { sender: GroupMember; plaintext: string; message: Uint8Array }[] = [];
    for (const sender of chosen) {
      const plaintext = `${this.options.run} epoch ${step.epoch} from ${sender.name}`;
      const message = await this.attempt(step, sender, 'failed to encrypt an application message', () => sender.encrypt(utf8.encode(plaintext)));
      sent.push({ sender, plaintext, message });
      this.stats.messages++;
    }
    for (const receiver of this.members) {
      const expected = sent.filter((s) => s.sender !== receiver);
      let got: Decrypted[];
      try {
        got = await receiver.decrypt(expected.map((s) => s.message));
      } catch (err) {
        const index = err instanceof DecryptFailure ? err.index : undefined;
        const cause = err instanceof DecryptFailure ? err.cause : err;
        const what = index === undefined ? 'failed to decrypt' : `failed to decrypt the message of ${label(expected[index]!.sender)}`;
        throw this.failure(step, receiver, what, cause);
      }
      if (got.length !== expected.length) throw this.failure(step, receiver, `decrypted ${got.length} of ${expected.length} messages`);
      for (const [i, { sender, plaintext }] of expected.entries()) {
        const { plaintext: opened, sender: from } = got[i]!;
        if (text.decode(opened) !== plaintext) {
          throw this.failure(step, receiver, `decrypted "${text.decode(opened)}" from ${label(sender)}, expected "${plaintext}"`);
        }
        if (from !== sender.id.identity) throw this.failure(step, receiver, `says the message of ${label(sender)} came from ${from}`);
        this.stats.decryptions++;
      }
    }
    for (const gone of removed) {
      for (const { sender, message } of sent) {
        let opened: Decrypted[] | undefined;
        try {
          opened = await gone.decrypt([message]);
        } catch {
          continue; // what must happen
        }
        throw this.failure(step, gone, `was removed but decrypted the next epoch's message of ${label(sender)}: "${text.decode(opened[0]!.plaintext)}"`);
      }
    }
  }

  private async attempt<T>(step: Step, who: GroupMember, what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.failure(step, who, what, err);
    }
  }

  private failure(step: Step, who: GroupMember, what: string, err?: unknown): InteropFailure {
    const failure = new InteropFailure(
      `${this.options.run}, epoch ${step.epoch}, ${step.operation}${step.detail ? ` ${step.detail}` : ''} committed by ` +
        `${label(step.committer)}: ${label(who)} ${what}${err === undefined ? '' : `: ${describeError(err)}`}`,
      err === undefined ? undefined : { cause: err },
    );
    failure.history = [...this.history];
    return failure;
  }
}

export interface ScenarioOptions {
  seed: number;
  /** Commits to make (each one an epoch). */
  epochs: number;
  minMembers?: number;
  maxMembers?: number;
  senders?: 'all' | number;
}

/**
 * A seeded random run: each step a random member commits an add, a remove or a self-update; a
 * member of ours removes by changeMembers half the time, adding one new member of ours in the
 * same commit. Joiners of an add are of either side, leaning to the side with fewer members.
 */
export async function runMixedGroup(options: ScenarioOptions): Promise<Stats> {
  const { seed, epochs } = options;
  const minMembers = options.minMembers ?? 2;
  const maxMembers = options.maxMembers ?? 12;
  const random = mulberry32(seed).next;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const groupId = new Uint8Array(32).map(() => Math.floor(random() * 256));
  const group = await MixedGroup.create({ run: `seed ${seed}`, senders: options.senders ?? 'all', pick }, groupId);
  // Either side, leaning to the one with fewer members (changeMembers brings in only ours): (ours + 1) / (size + 2) for OpenMLS.
  const side = (): Implementation => {
    const ours = group.members.filter((m) => m.implementation === 'ours').length;
    return random() < (ours + 1) / (group.members.length + 2) ? 'openmls' : 'ours';
  };
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const size = group.members.length;
      const committer = pick(group.members);
      const roll = random();
      if (size === 1 || (roll < 0.35 && size < maxMembers)) {
        const count = Math.min(maxMembers - size, random() < 0.75 ? 1 : 2);
        await group.add(committer, Array.from({ length: count }, side));
      } else if (roll < 0.65 && size > minMembers) {
        const others = group.members.filter((m) => m !== committer);
        const count = Math.min(size - minMembers, random() < 0.75 ? 1 : 2);
        const removed: GroupMember[] = [];
        while (removed.length < count) removed.push(others.splice(Math.floor(random() * others.length), 1)[0]!);
        if (committer.implementation === 'ours' && random() < 0.5) await group.change(committer, removed, 1);
        else await group.remove(committer, removed);
      } else {
        await group.update(committer);
      }
    }
    return group.stats;
  } finally {
    await group.dispose();
  }
}
