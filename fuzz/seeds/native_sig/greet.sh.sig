{
  "sigward": 1,
  "file": {
    "name": "greet.sh",
    "size": 96,
    "sha256": "c7502b8eae3b2d4ad20bdca0d684487f352a764fc5840cb7c2a7aabc7a77f5f3"
  },
  "signatures": [
    {
      "algorithm": "ed25519",
      "key": "2f0fa61a91d4511117cac52d1a9666896710a22600cc4747b8444fa0696f40f3",
      "signed_at": "2026-11-21T21:29:16Z",
      "signature": "4h85YLlYDOWWEqlIxfPHbVwVByaCvP5PBJmWrEt55rUMkxwlC0wcowGIgj6kVV8SnDvdmcZuF41iQJuHZOw9Bw=="
    }
  ]
}
