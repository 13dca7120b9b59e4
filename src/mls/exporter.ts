import { mlsExporter } from 'ts-mls';
import type { GroupState, MlsContext } from './context';
import { MlsLayerError } from './errors';

/**
 * MLS-Exporter(label, context, length) of the state's epoch (RFC 9420 §8.5): secrets every member
 * of that epoch derives alike and nobody else can, e.g. the envelope key and tag seeds.
 */
export async function exportSecret(
  ctx: Pick<MlsContext, 'suite'>,
  state: GroupState,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  // HKDF-SHA256 expands to at most 255 * 32 bytes.
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new MlsLayerError('InvalidInput', 'exporter length out of range', { length });
  }
  return mlsExporter(state.keySchedule.exporterSecret, label, context, length, ctx.suite.impl);
}

/**
 * The epoch authenticator (RFC 9420 §8.7): equal for all members of an epoch, so comparing it
 * out of band detects a split view of the group (a safety-number style check).
 */
export function epochAuthenticator(state: GroupState): Uint8Array {
  return state.keySchedule.epochAuthenticator.slice();
}
