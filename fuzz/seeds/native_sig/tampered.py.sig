{
  "sigward": 1,
  "file": {
    "name": "tampered.py",
    "size": 97,
    "sha256": "b99bed595a5b59ab2208df4ee3ebde3f99134d3350e88c2416d0af9e4a2336e8"
  },
  "signatures": [
    {
      "algorithm": "ed25519",
      "key": "2f0fa61a91d4511117cac52d1a9666896710a22600cc4747b8444fa0696f40f3",
      "signed_at": "2026-11-21T21:29:16Z",
      "signature": "uFNfrlDKmPdfU9INEsL0fmLExPIqbQAHoBOD+ySSxXXR2nC/t+kK3V1Dg7IpxkPx707O3x/BxJgM1MCJCo+8Dg=="
    }
  ]
}
