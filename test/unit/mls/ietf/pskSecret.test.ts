import { expect, test } from 'vitest'
import { vectorSuite } from './vectorSuite'
import json from "./vectors/psk_secret.json"
import { type CiphersuiteId, type CiphersuiteImpl } from "ts-mls/crypto/ciphersuite.js"
import { computePskSecret, type PreSharedKeyIdExternal } from "ts-mls/presharedkey.js"
import { bytesToHex, hexToBytes } from "@noble/ciphers/utils.js"

test.concurrent.each(json.map((x, index) => [index, x]))(`psk_secret test vectors %i`, async (_index, x) => {
  const impl = await vectorSuite(x.cipher_suite as CiphersuiteId)
  await testPskSecret(x.psk_secret, x.psks, impl)
})

type Psk = {
  psk_id: string
  psk: string
  psk_nonce: string
}

function toExternalPsk(p: Psk): [PreSharedKeyIdExternal, Uint8Array] {
  return [{ psktype: "external", pskId: hexToBytes(p.psk_id), pskNonce: hexToBytes(p.psk_nonce) }, hexToBytes(p.psk)]
}

async function testPskSecret(secret: string, psks: Psk[], impl: CiphersuiteImpl) {
  const computedSecret = await computePskSecret(psks.map(toExternalPsk), impl)
  expect(bytesToHex(computedSecret)).toBe(secret)
}
