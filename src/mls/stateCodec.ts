import { decodeGroupState as tsDecodeGroupState, encodeGroupState as tsEncodeGroupState } from 'ts-mls';
import { settle, type GroupState, type MlsContext } from './context';
import { MlsLayerError } from './errors';
import { decodeStrict } from './messageCodec';
import { CIPHER_SUITE_NAME } from './suite';

/**
 * Group state at rest. ts-mls's `encodeGroupState` leaves out `clientConfig` (it holds functions
 * and does not structured-clone), so decoding re-attaches one built from our context: our AS,
 * never ts-mls's accept-all default. A leading format byte lets a later ts-mls codec coexist.
 *
 * Format 1 was ts-mls 1.6.4 as published, whose secret tree held every node. Format 2 is 1.6.4
 * with the lazily derived secret tree (patches/ts-mls+1.6.4.patch): its encoding differs, so a
 * format 1 state is refused rather than misread (no released build ever stored one).
 *
 * The bytes hold every secret of the retained epochs and the device's signing key: store them
 * only where the rest of the device's keys live.
 */
const FORMAT_TS_MLS_1_LAZY_SECRET_TREE = 2;

export function encodeGroupState(state: GroupState): Uint8Array {
  const body = tsEncodeGroupState(state);
  const out = new Uint8Array(1 + body.length);
  out[0] = FORMAT_TS_MLS_1_LAZY_SECRET_TREE;
  out.set(body, 1);
  return out;
}

export function decodeGroupState(ctx: MlsContext, bytes: Uint8Array): GroupState {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) {
    throw new MlsLayerError('MlsDecode', 'GroupState: empty', { what: 'GroupState' });
  }
  if (bytes[0] !== FORMAT_TS_MLS_1_LAZY_SECRET_TREE) {
    throw new MlsLayerError('MlsDecode', 'GroupState: unknown format', { what: 'GroupState', format: bytes[0] });
  }
  const state = decodeStrict(tsDecodeGroupState, bytes.subarray(1), 'GroupState');
  if (state.groupContext.cipherSuite !== CIPHER_SUITE_NAME) {
    throw new MlsLayerError('UnsupportedCipherSuite', 'GroupState: not cipher suite 1', {
      cipherSuite: state.groupContext.cipherSuite,
    });
  }
  return settle(ctx, state);
}
