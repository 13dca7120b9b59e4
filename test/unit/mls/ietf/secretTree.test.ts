import { expect, test } from 'vitest'
import { vectorSuite } from './vectorSuite'
import { type CiphersuiteId, type CiphersuiteImpl } from "ts-mls/crypto/ciphersuite.js"
import { hexToBytes } from "@noble/ciphers/utils.js"
import json from "./vectors/secret-tree.json"
import { expandSenderDataKey, expandSenderDataNonce } from "ts-mls/sender.js"
import { createSecretTree, ratchetToGeneration } from "ts-mls/secretTree.js"
import { defaultKeyRetentionConfig } from "ts-mls/keyRetentionConfig.js"

test.concurrent.each(json.map((x, index) => [index, x]))(`secret-tree test vectors %i`, async (_index, x) => {
  const impl = await vectorSuite(x.cipher_suite as CiphersuiteId)
  await testSecretTree(
    x.sender_data.sender_data_secret,
    x.sender_data.ciphertext,
    x.sender_data.key,
    x.sender_data.nonce,
    x.encryption_secret,
    x.leaves,
    impl,
  )
})

type Leaf = {
  generation: number
  handshake_key: string
  handshake_nonce: string
  application_key: string
  application_nonce: string
}

async function testSecretTree(
  senderSecret: string,
  ciphertext: string,
  key: string,
  nonce: string,
  encryptionSecret: string,
  leaves: Leaf[][],
  impl: CiphersuiteImpl,
) {
  // key == sender_data_key(sender_data_secret, ciphertext)
  const derivedKey = await expandSenderDataKey(impl, hexToBytes(senderSecret), hexToBytes(ciphertext))
  expect(derivedKey).toStrictEqual(hexToBytes(key))

  //nonce == sender_data_nonce(sender_data_secret, ciphertext)
  const derivedNonce = await expandSenderDataNonce(impl, hexToBytes(senderSecret), hexToBytes(ciphertext))
  expect(derivedNonce).toStrictEqual(hexToBytes(nonce))

  // Through the lazily derived tree (patches/ts-mls+1.6.4.patch): every leaf's ratchets come
  // from ratchetToGeneration, one tree carried across all leaves, as a receiver would.
  let tree = createSecretTree(leaves.length, hexToBytes(encryptionSecret))
  const reuseGuard = new Uint8Array(4) as Uint8Array & { length: 4 }
  const config = { ...defaultKeyRetentionConfig, maximumForwardRatchetSteps: 2 ** 20 }
  for (const [leafIndex, leaf] of leaves.entries()) {
    for (const contentType of ["commit", "application"] as const) {
      for (const gen of leaf) {
        const result = await ratchetToGeneration(tree, { leafIndex, generation: gen.generation, reuseGuard }, contentType, config, impl)
        tree = result.newTree
        expect(result.generation).toBe(gen.generation)
        // {handshake,application}_key = ..._ratchet_key_[i]_[generation], and likewise the nonce
        // (a zero reuse guard leaves it as derived).
        const [key, nonce] = contentType === "commit" ? [gen.handshake_key, gen.handshake_nonce] : [gen.application_key, gen.application_nonce]
        expect(result.key).toStrictEqual(hexToBytes(key))
        expect(result.nonce).toStrictEqual(hexToBytes(nonce))
      }
    }
  }
  // Every leaf derived: no intermediate secret is left in the tree.
  expect(Object.keys(tree.intermediateNodes)).toEqual([])
}
