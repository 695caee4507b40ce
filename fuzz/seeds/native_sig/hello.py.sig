{
  "sigward": 1,
  "file": {
    "name": "hello.py",
    "size": 100,
    "sha256": "3d6aa211561a2bbb1d767ae208d5ee8d62d43919422096e6be53c2fa01ad6505"
  },
  "signatures": [
    {
      "algorithm": "ed25519",
      "key": "2f0fa61a91d4511117cac52d1a9666896710a22600cc4747b8444fa0696f40f3",
      "signed_at": "2026-11-21T21:29:16Z",
      "signature": "F9tPK+BeguL1GvGWiS4Sq2PIYIQFfIMjiqYlHi7JQf9ppDovY+VD8EUczESKGkXpUf5giI0by1rd41EKp7ZcDg=="
    }
  ]
}
